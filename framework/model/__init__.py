"""The planning model: one set of builders for the first stage and the dispatch of a scenario,
for every sharing architecture (:mod:`framework.architecture`)."""

from framework.architecture import STATION
from framework.model.build import (
    COST_TERMS,
    build_extensive_model,
    build_scenario_model,
    define_dispatch,
    define_first_stage,
    first_stage_vars,
    fix_capacity,
    metered_flow,
    metered_vars,
)
from framework.model.data import (
    ScenarioData,
    YearContext,
    check_scenarios_match,
    scenario_data,
    scenario_name,
    storage_members,
)

__all__ = [
    "COST_TERMS", "STATION", "ScenarioData", "YearContext", "build_extensive_model",
    "build_scenario_model", "check_scenarios_match", "define_dispatch", "define_first_stage",
    "first_stage_vars", "fix_capacity", "metered_flow", "metered_vars", "scenario_data",
    "scenario_name", "storage_members",
]
