"""nbgrader's configuration for everyone's server in the course's image (binder/postBuild puts it in
the Python environment's etc/jupyter, on every user's Jupyter config path).

Students' Assignment List fetches the course's lessons from the exchange and submits into it: a
shared volume mounted at the same path in every server (docs/kubernetes/config.yaml). The path is
nbgrader's default Exchange.root, so that the course's grader, which reads the instructor's course
config (grader/nbgrader_config.py of their clone) and not this file, finds the same exchange.
"""

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "finetune-course"
c.Exchange.root = "/usr/local/share/nbgrader/exchange"
