"""nbgrader configuration: maps nbgrader's course folders onto this repository.

Run nbgrader from this folder (``cd grader && nbgrader generate_assignment 01_why_finetune --force``):

- source notebooks (solutions and hidden tests): ``solutions/<lesson>/``
- released student notebooks: ``lessons/<lesson>/``
- submissions, autograded copies, feedback and the gradebook: under ``grader/`` (git-ignored)
"""

import os

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

GRADER = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "finetune-course"
c.CourseDirectory.root = os.path.dirname(GRADER)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "lessons"
c.CourseDirectory.submitted_directory = os.path.join("grader", "submitted")
c.CourseDirectory.autograded_directory = os.path.join("grader", "autograded")
c.CourseDirectory.feedback_directory = os.path.join("grader", "feedback")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(GRADER, "gradebook.db")
# capstone_pictures/ and capstone_model.pt are what lesson 08 writes next to its notebook
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "demo_output", "capstone_pictures",
                            "capstone_model.pt"]

# The stub students see in place of each solution region.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Lessons train real (small) models: a worked example may take longer than nbgrader's
# default of 30 s per cell on a slow laptop.
c.ExecutePreprocessor.timeout = 120

# The grader (src/course_grader) checks that student code leaves alone what the tests call:
# numpy's and torch's functions, and these modules of the course's helper package.
c.GuardedExecute.course_modules = ["finetune_course", "finetune_course.data", "finetune_course.models",
                                   "finetune_course.train", "finetune_course.metrics", "finetune_course.weights",
                                   "finetune_course.plots"]
