"""``python -m course_grader.kernel``: the grading kernel (see :mod:`course_grader.kernel.warden`)."""

from course_grader.kernel.warden import main

main()
