"""Cooperative game of the microgrids: coalition values, allocation rules, core checks.

``values``: ``v(C)`` from the planning model under the system's shared architecture
(``accounts`` by default; cached per architecture, spread over MPI ranks);
``rules``: Shapley (exact and sampled), nucleolus, least core, proportional rules and the
checks of an allocation, on any cost game ``{frozenset: cost}``; ``allocate``: both together
as one ``xr.Dataset``. See ``docs/allocation.md``.
"""

from framework.game.allocate import (
    RULES,
    allocate,
    allocation_dataset,
    allocation_summary,
    allocation_table,
)
from framework.game.rules import (
    AllocationCheck,
    LeastCore,
    SampledShapley,
    check_allocation,
    core_is_empty,
    least_core,
    nucleolus,
    permutation_coalitions,
    proportional,
    proportional_to_standalone,
    sample_permutations,
    sampled_shapley,
    savings,
    shapley,
)
from framework.game.values import (
    CoalitionValue,
    CoalitionValues,
    SolveStats,
    Task,
    all_coalitions,
    coalition_values,
    solve_tasks,
)

__all__ = [
    "RULES", "AllocationCheck", "CoalitionValue", "CoalitionValues", "LeastCore",
    "SampledShapley", "SolveStats", "Task", "all_coalitions", "allocate", "allocation_dataset",
    "allocation_summary", "allocation_table", "check_allocation", "coalition_values",
    "core_is_empty", "least_core", "nucleolus", "permutation_coalitions", "proportional",
    "proportional_to_standalone", "sample_permutations", "sampled_shapley", "savings",
    "shapley", "solve_tasks",
]
