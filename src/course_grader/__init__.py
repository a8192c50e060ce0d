"""course_grader: autograding of any nbgrader course, sandboxed, in parallel, on Dask.

The instructor's pipeline (``finetune-course grade STEP`` or ``python -m course_grader STEP``):

- :mod:`.course`: the course's folders, from its nbgrader config;
- :mod:`.workflow`: release and feedback, and the entry points of :mod:`.collect` (folders and
  learning platforms' zips, through nbgrader's zip_collect plugins in :mod:`.platforms`) and
  :mod:`.export` (nbgrader ExportPlugins: the CSV, and Canvas and Moodle gradebook imports in
  :mod:`.gradebooks`); :mod:`.late`: a late-penalty policy, nbgrader's LateSubmissionPlugin;
- :mod:`.batch`: a batch of submissions: :mod:`.checks` before anything runs, self-contained
  :mod:`.jobs` run on Dask (:mod:`.cluster`: this machine's cores or a cluster), the serial
  :mod:`.merge` into the gradebook and the reports; :mod:`.calibrate`: per-cell time limits;
- :mod:`.worker`: one job (stock ``nbgrader autograde`` of one student's lesson);
- :mod:`.execute`: nbgrader's Execute step with time limits, crash handling, an output cap, and
  test cells decided by the warden's verdict and the judge, not by their outputs;
- :mod:`.observe`: what a hidden test hands over from the student's kernel, as plain data;
  :mod:`.judge`: the lines after ``### JUDGE``, run in the grader's process on those observations;
- :mod:`.kernel`: the grading kernel, whose audit-hook warden runs the test cells it compiled
  (:mod:`.testcell`) before any student code and writes each verdict with a secret;
  :mod:`.guard`: what the kernel must know of a lesson (watched modules, imported names);
- :mod:`.sandbox`: the bubblewrap kernel spec, the whole-submission :class:`~.sandbox.Watchdog`
  and every limit (:class:`~.sandbox.Limits`);
- :mod:`.simulate`: simulated students for tests and benchmarks; :mod:`.slurm`: workers as Slurm jobs.

Imports nothing from the course it grades; not part of the student bundle.
"""
