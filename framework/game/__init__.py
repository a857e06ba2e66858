"""Cooperative game of the microgrids: coalition values, allocation rules, core checks.

``values``: ``v(C)`` from the planning model under the system's shared architecture
(``accounts`` by default; cached per architecture, spread over MPI ranks);
``rules``: Shapley (exact and sampled), nucleolus, least core, proportional rules and the
checks of an allocation, on any cost game ``{frozenset: cost}``; ``dual``: the dual-price
allocation from one LP of the grand coalition; ``sampling``: sampled Shapley with a stopping
rule; ``allocate``: all together as one ``xr.Dataset``. See ``docs/allocation.md``.
"""

from framework.game.allocate import (
    RULES,
    allocate,
    allocation_dataset,
    allocation_summary,
    allocation_table,
)
from framework.game.dual import DualAllocation, dual_allocation
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
from framework.game.sampling import (
    AdaptiveShapley,
    adaptive_shapley,
    sampled_shapley_adaptive,
)
from framework.game.values import (
    CoalitionValue,
    CoalitionValues,
    SolveStats,
    Task,
    all_coalitions,
    coalition_values,
    merge_values,
    solve_tasks,
)

__all__ = [
    "RULES", "AdaptiveShapley", "AllocationCheck", "CoalitionValue", "CoalitionValues",
    "DualAllocation", "LeastCore", "SampledShapley", "SolveStats", "Task",
    "adaptive_shapley", "all_coalitions", "allocate", "allocation_dataset",
    "allocation_summary", "allocation_table", "check_allocation", "coalition_values",
    "core_is_empty", "dual_allocation", "least_core", "merge_values", "nucleolus",
    "permutation_coalitions", "proportional", "proportional_to_standalone",
    "sample_permutations", "sampled_shapley", "sampled_shapley_adaptive", "savings",
    "shapley", "solve_tasks",
]
