"""The classroom server: ``finetune-course hub``, a JupyterHub on one machine where every person has a room of
their own.

By job, each module using only those listed before it:

- :mod:`.settings`: the settings, the roster, each person's limits, look-ups on the machine;
- :mod:`.environment`: the course's Python for every account, read-only to them;
- :mod:`.checks`: everything checked before anything changes;
- :mod:`.accounts`: local accounts and passwords, and what removing them removes;
- :mod:`.course`: the instructor's course, nbgrader's exchange, each role's Jupyter config;
- :mod:`.isolation`: limits and privacy per person (cgroups, mount namespaces, systemd units);
- :mod:`.serverext`: what every user's Jupyter server loads to keep its own config closed;
- :mod:`.hubconfig`: JupyterHub's config (an origin per person, the spawner);
- :mod:`.server`: setting up, starting, removing; :mod:`.cli`: the command;
- :mod:`.api`: the hub's REST API and a user's kernels, for scripts, benches and tests.

It uses the grader (:mod:`course_grader.intake.exchange`'s classes, by name in the instructor's config) and the
course's package; neither of those imports it (``finetune-course`` finds ``hub`` by an entry point).
"""
