"""A late-submission policy for nbgrader: points off per started hour late.

nbgrader's ``AssignLatePenalties`` (it runs in every grading job) asks the class named by
``c.AssignLatePenalties.plugin_class`` for each late notebook's penalty; nbgrader's own
``LateSubmissionPlugin`` gives none (or all points, with ``penalty_method = 'zero'``). In the
course's ``grader/nbgrader_config.py``::

    c.AssignLatePenalties.plugin_class = "course_grader.results.late.PenaltyPerHour"
    c.PenaltyPerHour.penalty_per_hour = 1

The class is named by its dotted path because each grading job loads the course's config on a
worker: a ``late.py`` next to the config would not travel with the job, this package does.
"""

from __future__ import annotations

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float


class PenaltyPerHour(LateSubmissionPlugin):
    """``penalty_per_hour`` points off for each started hour late (one second late costs one hour's).

    nbgrader applies it to each notebook of a lesson and never takes off more than the notebook scored.
    """

    penalty_per_hour = Float(1.0, help="Points taken off a late notebook for each started hour late.").tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float:
        if self.penalty_per_hour < 0:
            raise ValueError(f"PenaltyPerHour.penalty_per_hour must be 0 or more points; got {self.penalty_per_hour}")
        return self.penalty_per_hour * math.ceil(total_seconds_late / 3600)
