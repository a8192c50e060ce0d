"""Taking submissions in: a folder or a learning platform's zip (collect, with the platforms' file names in
platforms), nbgrader's exchange (exchange), and what every notebook must pass before anything of it runs
(checks: a notebook that parses, within its sizes, no links). Each entry is taken on its own: one bad entry is
that student's refusal, never the batch's. Uses only :mod:`course_grader.course`.
"""
