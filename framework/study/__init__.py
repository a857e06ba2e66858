"""Reproducible studies: a ``study.toml`` of cases, run with caching by configuration hash.

:func:`load_study` reads and expands the study file (:mod:`framework.study.config`);
:func:`run_study` runs it (:mod:`framework.study.runner`); :mod:`framework.study.tasks` maps
a case to the solver of its method. See ``docs/studies.md``.
"""

from framework.study.config import Case, Study, load_study
from framework.study.runner import CaseOutcome, StudyResult, read_case, run_study
from framework.study.tasks import PLANNERS, planner_for

__all__ = ["PLANNERS", "Case", "CaseOutcome", "Study", "StudyResult", "load_study",
           "planner_for", "read_case", "run_study"]
