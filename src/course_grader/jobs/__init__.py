"""Jobs, workers and clusters: a batch of submissions (batch), each a self-contained job (job) that a worker runs
(runner, worker: stock ``nbgrader autograde`` with the kernel group's Execute step) on this machine's cores or a
Dask cluster (cluster; slurm: workers as Slurm jobs), merged serially into the gradebook and the reports (merge);
per-cell time limits from the solutions' own times (calibrate). Uses the intake, kernel and results groups and
the course; the one call upward is ``python -m course_grader.jobs.slurm``, a command that ends in ``grade
autograde``.
"""
