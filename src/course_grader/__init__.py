"""course_grader: autograding of any nbgrader course, sandboxed, in parallel, on Dask.

The instructor's pipeline (``finetune-course grade STEP`` or ``python -m course_grader STEP``):

- :mod:`.course`: the course's folders, from its nbgrader config;
- :mod:`.workflow`: release, collect, feedback, CSV export;
- :mod:`.batch`: a batch of submissions: :mod:`.checks` before anything runs, self-contained
  :mod:`.jobs` run on Dask (:mod:`.cluster`: this machine's cores or a cluster), the serial
  :mod:`.merge` into the gradebook and the reports; :mod:`.calibrate`: per-cell time limits;
- :mod:`.worker`: one job (stock ``nbgrader autograde`` of one student's lesson);
- :mod:`.execute`: nbgrader's Execute step with time limits, crash handling, an output cap and
  tampering checks; :mod:`.guard`: those checks;
- :mod:`.sandbox`: the bubblewrap kernel spec and every limit (:class:`~.sandbox.Limits`);
- :mod:`.simulate`: simulated students for tests and benchmarks.

Imports nothing from the course it grades; not part of the student bundle.
"""
