"""Progressive hedging over MPI ranks with mpi-sppy: a PH hub, bound spokes, certified gap.

:func:`solve_ph` runs mpi-sppy's hub-and-spoke system on the scenario models of the one
model builder, then fixes the best first stage found (the incumbent ``xhat``) and
optimises the dispatch of every scenario at those capacities, so its result has the schema
of the extensive form (:func:`framework.solve.ef.solve_ef`) plus the bounds, the gap and
the iteration history. ``docs/ph.md`` explains the configuration and why the bounds can be
trusted; :mod:`framework.solve.ph_guard` holds the safeguards.

Cylinders and ranks: the ranks are split evenly into the hub and one cylinder per spoke.
A bound that no spoke provides is computed on the hub itself (every
``hub_bound_every`` iterations), so PH also runs on one or two ranks. Scenarios (or bundles
of scenarios) are spread over the ranks of each cylinder.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyomo.environ as pyo
import xarray as xr

from framework._mpisppy import MPI, MultiExtension, sputils
from framework.errors import InputError
from framework.model import check_scenarios_match, scenario_name
from framework.model.stochastic import require_storage, scenario_creator
from framework.results import combine_modes, provenance
from framework.solve import settings as solver_settings
from framework.solve.highs import SolveError, highs_version
from framework.solve.ph_guard import (
    BoundError,
    CapacityBounds,
    OptimalOnlyBounds,
    capacity_settings,
    check_bounds,
    relative_gap,
)
from framework.solve.ph_hub import DEFAULT_RHO_MULTIPLIER, CostScaledRho, GapConverger, HubBounds
from framework.solve.ph_result import evaluate_on_hub
from framework.solve.ph_solver import NAME as SOLVER
from framework.solve.ph_solver import NAME_NONANTS as SOLVER_NONANTS
from framework.system import System

log = logging.getLogger(__name__)

OUTER_SPOKES = ("lagrangian",)
INNER_SPOKES = ("xhatxbar", "xhatshuffle")
SPOKES = OUTER_SPOKES + INNER_SPOKES
"""Spokes ``solve_ph`` can run: an outer-bound (Lagrangian) and inner-bound (xhat) kind."""

HISTORY_FIELDS = ("outer_bound", "inner_bound", "rel_gap", "convergence", "elapsed_s")

PROX_TOLERANCE = 1e-6
"""mpi-sppy's ``proximal_linearization_tolerance`` (a gap in ``x^2``, i.e. ``1e-3`` in ``x``)
at which a new cut approximates the proximal term. mpi-sppy's default, ``0.1`` (``0.32`` in
``x``), is coarse for small capacities: PH then cycles between vertices."""


def default_spokes(ranks: int) -> tuple[str, ...]:
    """The spokes for ``ranks`` MPI ranks: a Lagrangian (outer-bound) and an ``xbar``
    (inner-bound) spoke when the ranks split evenly into three cylinders, else none (both
    bounds are then computed on the hub, which keeps every rank)."""
    return ("lagrangian", "xhatxbar") if ranks >= 3 and ranks % 3 == 0 else ()


def check_layout(ranks: int, spokes: Sequence[str], n_scenarios: int,
                 bundles_per_rank: int) -> tuple[int, list[list[int]] | None]:
    """Ranks per cylinder and the bundles (lists of scenario positions), or InputError."""
    unknown = [s for s in spokes if s not in SPOKES]
    if unknown or len(set(spokes)) != len(spokes):
        raise InputError(f"spokes: {list(spokes)}; expected distinct names from {list(SPOKES)}")
    cylinders = 1 + len(spokes)
    if ranks % cylinders:
        raise InputError(
            f"{ranks} MPI ranks cannot be split evenly into the hub and {len(spokes)} "
            f"spoke(s) {list(spokes)}: use a multiple of {cylinders} ranks, or other spokes "
            f"(default for {ranks} ranks: {list(default_spokes(ranks))})")
    per_cylinder = ranks // cylinders
    if bundles_per_rank < 0:
        raise InputError(f"bundles_per_rank: expected >= 0, got {bundles_per_rank}")
    units = bundles_per_rank * per_cylinder if bundles_per_rank else n_scenarios
    if units > n_scenarios or per_cylinder > units:
        raise InputError(
            f"{n_scenarios} scenarios cannot be spread over {per_cylinder} rank(s) per "
            f"cylinder with {bundles_per_rank} bundle(s) per rank; use fewer ranks or bundles")
    if not bundles_per_rank:
        return per_cylinder, None
    return per_cylinder, [list(map(int, g)) for g in np.array_split(np.arange(n_scenarios),
                                                                     units)]


def bundle_name(members: Sequence[int]) -> str:
    """mpi-sppy's name of a bundle of consecutive scenarios (``Bundle_<first>_<last>``)."""
    return f"Bundle_{members[0]}_{members[-1]}"


def ph_subproblem(name: str, *, system: System, scenarios: xr.Dataset, mode: str
                  ) -> pyo.ConcreteModel:
    """A PH subproblem: scenario ``scen<k>``, or ``Bundle_<i>_<j>`` (the extensive form of
    scenarios ``i..j``, a two-stage subproblem with the probability of its members)."""
    if name.startswith("Bundle_"):
        first, last = (int(p) for p in name.split("_")[1:])
        bundle = sputils.create_EF(
            [scenario_name(k) for k in range(first, last + 1)], ph_subproblem,
            scenario_creator_kwargs={"system": system, "scenarios": scenarios, "mode": mode},
            EF_name=name, suppress_warnings=True, nonant_for_fixed_vars=False)
        if last == first:
            return bundle
        nonants = [v for (node, _), v in bundle.ref_vars.items() if node == "ROOT"]
        sputils.attach_root_node(bundle, 0, nonants)
        return bundle
    return scenario_creator(name, system=system, scenarios=scenarios, mode=mode)


def _denouement(rank: int, name: str, scenario: pyo.Block) -> None:
    """Nothing to report per subproblem (the result is assembled afterwards)."""


def _first_stage(system: System, scenarios: xr.Dataset, mode: str
                 ) -> tuple[list[tuple[str, str]], dict[str, list[float]] | None]:
    """Name and storage of every first-stage variable in mpi-sppy's nonant order (its root
    node sorts the indices), and the settings of :class:`~framework.solve.ph_guard.
    CapacityBounds` (cost coefficients, cheapest first stage, and the costs that scale rho:
    :func:`~framework.solve.ph_guard.first_stage_costs`)."""
    m = scenario_creator(scenario_name(0), system=system, scenarios=scenarios, mode=mode)
    nonants = m._mpisppy_node_list[0].nonant_vardata_list
    layout = [(v.parent_component().local_name, str(v.index())) for v in nonants]
    return layout, capacity_settings(m)


def _config(max_iterations: int, time_limit_s: float | None, rel_gap: float,
            solver: str, bundled: bool) -> Any:
    from mpisppy.utils import config

    cfg = config.Config()
    for adder in (cfg.popular_args, cfg.two_sided_args, cfg.ph_args, cfg.lagrangian_args,
                  cfg.xhatxbar_args, cfg.xhatshuffle_args):
        adder()
    cfg.solver_name = solver
    cfg.default_rho = 1.0  # replaced after iteration 0 by CostScaledRho
    cfg.max_iterations = max_iterations
    cfg.time_limit = time_limit_s
    cfg.rel_gap = rel_gap
    cfg.max_stalled_iters = max_iterations + 1
    cfg.linearize_proximal_terms = True
    cfg.proximal_linearization_tolerance = PROX_TOLERANCE
    cfg.turn_off_names_check = bundled  # a bundle's nonants carry its first scenario's name
    return cfg


def _wheel_dicts(cfg: Any, names: list[str], kwargs: dict[str, Any], spokes: Sequence[str],
                 settings: dict[str, Any], capacity: dict[str, list[float]] | None
                 ) -> tuple[dict, list[dict]]:
    from mpisppy.utils import cfg_vanilla as vanilla

    beans = (cfg, ph_subproblem, _denouement, names)
    hub = vanilla.ph_hub(*beans, scenario_creator_kwargs=kwargs, ph_extensions=MultiExtension,
                         extension_kwargs={"ext_classes": [CostScaledRho, HubBounds]},
                         ph_converger=GapConverger)
    lean = SOLVER_NONANTS if cfg.solver_name == SOLVER else cfg.solver_name
    hub["opt_kwargs"]["options"].update(sesplan_ph=settings, sesplan_capacity=capacity,
                                        solver_name=lean)
    out = []
    for spoke in spokes:
        if spoke == "lagrangian":
            d = vanilla.lagrangian_spoke(
                *beans, scenario_creator_kwargs=kwargs, ph_extensions=MultiExtension,
                extension_kwargs={"ext_classes": [OptimalOnlyBounds, CapacityBounds]})
            d["opt_kwargs"]["options"].update(sesplan_capacity=capacity, solver_name=lean)
        elif spoke == "xhatxbar":
            d = vanilla.xhatxbar_spoke(*beans, scenario_creator_kwargs=kwargs)
        else:
            d = vanilla.xhatshuffle_spoke(*beans, scenario_creator_kwargs=kwargs)
        out.append(d)
    return hub, out


def _spin(hub: dict, spokes: list[dict], comm: Any) -> Any:
    """Run the wheel; a failure on any rank ends every rank (no hang) with a clear line.

    mpi-sppy's own screen output goes to stderr on rank 0 with debug logging, else nowhere
    (stdout stays clean for ``--json``).
    """
    from mpisppy.spin_the_wheel import WheelSpinner

    wheel = WheelSpinner(hub, spokes)
    verbose = comm.Get_rank() == 0 and log.isEnabledFor(logging.DEBUG)
    try:
        with contextlib.redirect_stdout(sys.stderr if verbose else io.StringIO()):
            wheel.spin(comm_world=comm)
    except Exception as err:
        if comm.Get_size() == 1:
            raise
        print(f"sesplan: error on MPI rank {comm.Get_rank()} during PH: "
              f"{type(err).__name__}: {err}", file=sys.stderr, flush=True)
        comm.Abort(4)
    return wheel


def _incumbent(wheel: Any, comm: Any) -> tuple[list[float] | None, float, float]:
    """The best first stage (from whichever cylinder found it) and the hub's best bounds,
    on every rank."""
    spcomm = wheel.spcomm
    winner = None
    if comm.Get_rank() == 0:  # the hub's own xhat, or the spoke that sent the best bound
        hub = spcomm.opt.sesplan_hub
        spoke = spcomm.last_ib_idx not in (None, 0)
        winner = spcomm.last_ib_idx if spoke and spcomm.BestInnerBound < hub.hub_inner else 0
    winner = comm.bcast(winner, root=0)
    values = None
    if wheel.strata_rank == winner and wheel.cylinder_rank == 0:
        if winner == 0:
            values = spcomm.opt.sesplan_hub.best_xhat
        else:
            s = next(iter(spcomm.opt.local_scenarios.values()))
            values = [v.value for v in s._mpisppy_data.nonant_indices.values()]
    values = next((v for v in comm.allgather(values) if v is not None), None)
    bounds = spcomm.opt.sesplan_hub.bounds() if comm.Get_rank() == 0 else None
    outer, inner = comm.bcast(bounds, root=0)
    return values, outer, inner


def solve_ph(system: System, scenarios: xr.Dataset, mode: str, *, rel_gap: float = 0.01,
             max_iterations: int = 200, time_limit_s: float | None = None,
             rho: float | None = None, rho_multiplier: float = DEFAULT_RHO_MULTIPLIER,
             bundles_per_rank: int = 0, spokes: Sequence[str] | None = None,
             hub_bound_every: int = 1, solver: str = SOLVER, comm: Any = None
             ) -> xr.Dataset | None:
    """Solve one architecture by progressive hedging on the MPI ranks of ``comm``.

    Parameters
    ----------
    system, scenarios, mode
        As for :func:`framework.solve.ef.solve_ef`; ``mode`` is an architecture with storage
        (``individual``, ``accounts``, ``pooled``, each also ``+p2p``). The dispatch
        reported is the one the hub's re-optimisation at the incumbent returns: an optimum
        of every scenario, not the least exchange of :func:`framework.solve.ef.least_exchange`
        (``docs/ph.md``). A cycle life and demand charges, which couple the days, are
        priced exactly: every scenario's day of cell discharge and the billing periods'
        peaks are first-stage variables
        (:func:`framework.model.build.build_scenario_model` with its year).
    rel_gap : float
        Stop when ``(inner - outer) / |inner| <= rel_gap`` (certified by the bounds).
    max_iterations : int
        Most PH iterations.
    time_limit_s : float, optional
        Wall-clock limit of the PH loop (s).
    rho : float, optional
        One rho for every first-stage variable; default the cost-scaled rho of
        :func:`framework.solve.ph_hub.cost_scaled_rho` times ``rho_multiplier``.
    bundles_per_rank : int
        0: every scenario its own subproblem; ``b > 0``: the scenarios are grouped into
        ``b`` bundles per rank of a cylinder (consecutive scenarios, solved as one
        extensive form each).
    spokes : sequence of str, optional
        From :data:`SPOKES`; default :func:`default_spokes` of the number of ranks.
    hub_bound_every : int
        Bounds that no spoke provides are computed on the hub every this many iterations.
    solver : str
        Pyomo solver of the subproblems (default :data:`~framework.solve.ph_solver.NAME`,
        persistent HiGHS).
    comm : mpi4py communicator, optional
        Default ``MPI.COMM_WORLD``.

    Returns
    -------
    xr.Dataset or None
        On rank 0 the result of this mode (the schema of ``solve_ef``) with the variables
        ``outer_bound``, ``inner_bound``, ``rel_gap`` (per mode), the history
        ``ph_<field>(mode, iteration)`` and the PH settings in the attributes; ``None`` on
        the other ranks.

    Raises
    ------
    InputError
        The architecture has no storage (``none``, ``p2p``: no first stage to decide), or
        ranks, spokes and bundles do not fit together.
    BoundError
        An outer bound lies above the cost of a feasible plan.
    """
    comm = MPI.COMM_WORLD if comm is None else comm
    require_storage(mode, "progressive hedging")
    check_scenarios_match(system, scenarios)
    start = time.perf_counter()
    ranks = comm.Get_size()
    spokes = default_spokes(ranks) if spokes is None else tuple(spokes)
    n = int(scenarios.sizes["scenario"])
    per_cylinder, bundles = check_layout(ranks, spokes, n, bundles_per_rank)
    names = ([bundle_name(b) for b in bundles] if bundles else
             [scenario_name(k) for k in range(n)])
    layout, capacity = _first_stage(system, scenarios, mode)
    settings = {
        "mode": mode, "rel_gap": rel_gap, "rho": rho, "rho_multiplier": rho_multiplier,
        "cost": capacity["rho_cost"] if capacity else [1.0] * len(layout),
        "hub_bound_every": max(1, int(hub_bound_every)), "start": start,
        "hub_outer": not any(s in OUTER_SPOKES for s in spokes),
        "hub_inner": not any(s in INNER_SPOKES for s in spokes),
    }
    if comm.Get_rank() == 0:
        log.info("%s: PH on %d rank(s): hub %s, spokes %s, %d subproblem(s)%s", mode, ranks,
                 f"x{per_cylinder}", list(spokes) or "none", len(names),
                 " (bundles)" if bundles else "")
    cfg = _config(max_iterations, solver_settings.time_limit(time_limit_s), rel_gap, solver,
                  bool(bundles))  # capped by the command's total time limit
    kwargs = {"system": system, "scenarios": scenarios, "mode": mode}
    hub, spoke_dicts = _wheel_dicts(cfg, names, kwargs, spokes, settings, capacity)
    wheel = _spin(hub, spoke_dicts, comm)
    ph_s = time.perf_counter() - start
    xhat, outer, inner = _incumbent(wheel, comm)
    if xhat is None:
        raise BoundError(f"{mode}: PH found no feasible first stage (no inner bound) in "
                         f"{max_iterations} iterations")
    check_bounds(outer, inner, what=f"{mode}: ")
    ds = None
    if wheel.strata_rank == 0:
        ds = evaluate_on_hub(wheel.spcomm.opt, system, scenarios, mode, xhat)
    evaluated = comm.bcast(float(ds["annual_cost"].item()) if ds is not None else None, root=0)
    if evaluated is None:
        raise SolveError(f"{mode}: the dispatch at the PH incumbent was not solved to "
                         "optimality in every scenario")
    check_bounds(outer, evaluated, what=f"{mode} (incumbent re-evaluated): ")
    if comm.Get_rank() != 0:
        return None
    hub = wheel.spcomm.opt.sesplan_hub
    return _finish(ds, system, scenarios, outer, hub.history, ph_s, {
        "ph_ranks": ranks, "ph_spokes": ",".join(spokes) or "none",
        "ph_bundles": len(bundles) if bundles else 0, "ph_rel_gap_target": rel_gap,
        "ph_max_iterations": max_iterations,
        "ph_time_limit_s": time_limit_s if time_limit_s is not None else "none",
        "ph_rho": (f"cost-scaled x {rho_multiplier}" if rho is None else rho),
        "ph_rho_values": json.dumps(settings.get("rho_values", [])),
        "ph_solver": f"{solver} (linearized proximal terms)",
        "ph_hub_bound_every": settings["hub_bound_every"],
        "ph_hub_inner_bound": inner, "ph_capex_bound": hub.budget,
    })


def _finish(ds: xr.Dataset, system: System, scenarios: xr.Dataset, outer: float,
            history: list[dict[str, float]], ph_s: float, attrs: dict[str, Any]
            ) -> xr.Dataset:
    """Objective, bounds, gap, history and provenance on the evaluated dispatch."""
    inner = float(ds["annual_cost"].item())
    gap = relative_gap(outer, inner)
    iterations = [int(row["iteration"]) for row in history]
    ds = ds.assign(
        objective=("mode", [inner]), bound=("mode", [outer]),
        outer_bound=("mode", [outer]), inner_bound=("mode", [inner]), rel_gap=("mode", [gap]),
        termination=("mode", ["converged" if gap <= attrs["ph_rel_gap_target"]
                              else "not converged"]),
        ph_iterations=("mode", [iterations[-1] if iterations else 0]),
        build_s=("mode", [math.nan]), compile_s=("mode", [math.nan]),
        solve_s=("mode", [ph_s]), least_exchange_s=("mode", [math.nan]),  # not made by PH
        **{f"ph_{field}": (("mode", "iteration"), [[row[field] for row in history]])
           for field in HISTORY_FIELDS})
    ds = ds.assign_coords(iteration=iterations)
    for name in ("objective", "bound", "outer_bound", "inner_bound"):
        ds[name].attrs["units"] = "currency/yr"
    ds.attrs = provenance(system, scenarios, "ph", solver=highs_version(), **attrs)
    return ds


def ph_summary(ds: xr.Dataset) -> dict[str, dict[str, float]]:
    """Bounds, certified gap and iterations per mode of a PH result (for ``--json``).

    ``rel_gap`` is certified with the plan PH returns, evaluated on every scenario
    (``inner_bound``); ``last_iteration_rel_gap`` is the hub's gap at its last iteration,
    with the best incumbent found during the run. The plan's exact cost is often lower than
    those incumbents, so the final gap can be smaller than the history's last one.
    """
    out = {}
    for mode in ds["mode"].values:
        history = ds["ph_rel_gap"].sel(mode=mode).values if "ph_rel_gap" in ds else []
        finite = [float(g) for g in history if math.isfinite(g)]
        out[str(mode)] = {"outer_bound": float(ds["outer_bound"].sel(mode=mode)),
                          "inner_bound": float(ds["inner_bound"].sel(mode=mode)),
                          "rel_gap": float(ds["rel_gap"].sel(mode=mode)),
                          "last_iteration_rel_gap": finite[-1] if finite else math.inf,
                          "iterations": int(ds["ph_iterations"].sel(mode=mode))}
    return out


def ph_report(ds: xr.Dataset) -> str:
    """One line per mode: the certified bounds and gap of a PH result, and where it differs
    from the gap of the last iteration, why."""
    lines = []
    for mode, row in ph_summary(ds).items():
        line = (f"PH {mode}: {row['iterations']} iterations, lower bound "
                f"{row['outer_bound']:,.2f}, plan cost {row['inner_bound']:,.2f}, certified gap "
                f"{row['rel_gap']:.3%}")
        if abs(row["last_iteration_rel_gap"] - row["rel_gap"]) > 1e-6:
            line += (f" (the last iteration's gap was {row['last_iteration_rel_gap']:.3%}, "
                     "with the incumbent of the run; the certified gap uses the exact cost of "
                     "the plan returned, evaluated on every scenario)")
        lines.append(line)
    return "\n".join(lines)


def plan_ph(system: System, scenarios: xr.Dataset,
            modes: Sequence[str] = ("individual", "accounts"), **kwargs: Any
            ) -> xr.Dataset | None:
    """:func:`solve_ph` for each architecture, side by side (on rank 0; ``None``
    elsewhere)."""
    results = [solve_ph(system, scenarios, mode, **kwargs) for mode in modes]
    return None if results[0] is None else combine_modes(results)
