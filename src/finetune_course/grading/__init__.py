"""The instructor's grading pipeline over nbgrader (``finetune-course grade ...``).

- :mod:`.course`: the course's folders, from its nbgrader config;
- :mod:`.workflow`: release, collect, feedback, CSV export, the student bundle;
- :mod:`.batch`: checks, parallel autograding on private gradebooks, the serial merge, reports;
- :mod:`.worker`: one job (stock ``nbgrader autograde`` of one student's lesson);
- :mod:`.execute`: nbgrader's Execute step with time limits, crash handling, an output cap and
  tampering checks; :mod:`.guard`: those checks;
- :mod:`.sandbox`: the bubblewrap kernel spec and resource limits;
- :mod:`.simulate`: simulated students for tests and benchmarks.

Not part of the student bundle.
"""
