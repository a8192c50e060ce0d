"""The sandboxed kernel and what it observes: the bubblewrap sandbox, its limits and the whole-submission
watchdog (sandbox); the grading kernel (``python -m course_grader.kernel``) whose warden compiles the test cells
before any student code (warden, testcell, guard) and sends what each test observed with its verdict; and
nbgrader's Execute step that drives that kernel from the grader's side and hands each test's observations to the
judge (execute). Uses only :mod:`course_grader.observe` and :mod:`course_grader.judge`.
"""
