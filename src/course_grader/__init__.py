"""course_grader: autograding of any nbgrader course, sandboxed, in parallel, on Dask.

The instructor's pipeline is ``finetune-course grade STEP`` (or ``python -m course_grader STEP``):
:mod:`.cli` and :mod:`.workflow` (release, feedback, the entry points of the groups below) over
:mod:`.course` (the course's folders, from its nbgrader config). The rest is grouped by job, each
group a subpackage; arrows point one way, from top to bottom:

- :mod:`.jobs`: a batch of submissions as self-contained jobs, workers on this machine's cores or
  a Dask cluster, the serial merge into the gradebook, per-cell time limits;
- :mod:`.intake`: taking submissions in (a folder, a learning platform's zip, the exchange) and
  the checks every notebook passes before anything of it runs;
- :mod:`.results`: what students and the instructor get back (feedback, sanitised; grade exports);
- :mod:`.kernel`: the sandboxed kernel and what it observes; nbgrader's Execute step driving it;
- :mod:`.judge`: the lines after ``### JUDGE`` of each hidden test, run in the grader's process on
  what the kernel observed; :mod:`.observe`: that plain data, as the kernel hands it over (source
  notebooks import ``observe`` and ``seen`` from it).

Imports nothing from the course it grades; not part of the student bundle. The simulated
students of the tests and benches live with the tests (``tests/simulate.py``).
"""
