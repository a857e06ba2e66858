"""Benefit allocation on the planning model: coalition values -> rules -> one dataset.

:func:`allocate` solves (or reads from the cache) the coalition values of a system and
:func:`allocation_dataset` applies the allocation rules to them. The dataset has the
dimensions ``rule``, ``microgrid`` and ``coalition`` (labels ``a+b+c``):

* ``coalition_cost`` ``v(C)`` (currency/yr), ``coalition_cap_energy_kwh``,
  ``coalition_cap_power_kw`` (the coalition's station; a singleton's own storage),
  ``coalition_size``, ``coalition_mode`` (its architecture: ``individual`` for a singleton,
  the shared architecture otherwise), ``coalition_cached``, ``coalition_solve_s``,
  ``member`` (coalition x microgrid, 0/1);
* ``standalone_cost`` ``v({i})``, ``metered_kwh_per_yr`` (grand coalition: the energy each
  microgrid moves to and from the station plus its p2p flows, metered at its connection;
  the weights of ``proportional_energy``);
* ``allocation`` ``x_i`` (rule x microgrid, currency/yr), ``saving`` ``v({i}) - x_i``,
  ``saving_share`` (saving over the total saving);
* per rule ``efficiency_gap`` ``x(N) - v(N)``, ``individually_rational``, ``in_core``,
  ``max_excess`` ``max_C x(C) - v(C)``, ``most_violated`` (label, ``""`` if none);
* ``capacity_share_energy_kwh``, ``capacity_share_power_kw``: the contribution-based split,
  the Shapley value of the capacity games ``C -> E(C)`` and ``C -> P(C)`` (each
  microgrid's average marginal contribution to the station's size; they sum to the grand
  coalition's station);
* with ``sampled_shapley``: ``shapley_std_error``, ``shapley_ci_low``, ``shapley_ci_high``.

``attrs["architecture"]`` is what the coalitions share (``system.planning.shared_architecture``,
``accounts`` by default), ``attrs["saving_of_sharing_from"]`` what the saving is made of
(``storage sharing`` for ``accounts``; ``storage sharing and energy exchange`` where energy
moves between microgrids).
"""

from __future__ import annotations

import contextlib
import json
import math
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from framework.architecture import architecture
from framework.errors import InputError
from framework.game import rules as r
from framework.game.dual import DualAllocation, dual_allocation
from framework.game.generation import (
    CoreCheck,
    GenerationResult,
    core_check_generation,
    least_core_generation,
    nucleolus_generation,
)
from framework.game.sampling import AdaptiveShapley, sampled_shapley_adaptive
from framework.game.values import (
    CoalitionValues,
    all_coalitions,
    coalition_values,
    merge_values,
)
from framework.results import provenance, saving_source
from framework.system import System

RULES = ("shapley", "nucleolus", "least_core", "dual", "proportional_cost",
         "proportional_energy")
ALL_RULES = (*RULES, "sampled_shapley")
FULL_GAME_RULES = ("shapley", "nucleolus", "least_core")
GENERATED_RULES = ("nucleolus", "least_core")
METHODS = ("auto", "enumeration", "generation")
#: ``method="auto"`` enumerates all 2^n - 1 coalitions up to this many microgrids and
#: generates them above: enumeration gives the exact Shapley value, and at 8 it takes
#: under a minute on the scaled default system (4 clustered days;
#: studies/benchmarks/allocation_generation.py), doubling with every microgrid more.
ENUMERATION_MAX = 8


def check_rules(rules: Sequence[str]) -> tuple[str, ...]:
    """The rules as a tuple; an unknown or repeated name is an :class:`InputError`."""
    rules = tuple(rules)
    unknown = [x for x in rules if x not in ALL_RULES]
    if unknown or not rules or len(set(rules)) != len(rules):
        raise InputError(f"rules: expected distinct names among {list(ALL_RULES)}, "
                         f"got {list(rules)}")
    return rules


def needed_coalitions(players: Sequence[str], rules: Sequence[str],
                      orders: Sequence[Sequence[str]] = ()) -> list[frozenset[str]] | None:
    """The coalitions the rules need: ``None`` for all ``2^n - 1``; else the singletons,
    the grand coalition and the prefixes of the sampled orders."""
    if any(x in FULL_GAME_RULES for x in rules):
        return None
    out = {frozenset([p]) for p in players} | {frozenset(players)}
    return sorted(out | r.permutation_coalitions(orders), key=len)


def label(coalition: Sequence[str]) -> str:
    """A coalition's label in the dataset: its members joined by ``+``."""
    return "+".join(coalition)


def allocate(system: System, scenarios: xr.Dataset, rules: Sequence[str] = RULES, *,
             cache_dir: str | Path | None = None, comm: Any = None,
             n_permutations: int = 200, seed: int = 0, confidence: float = 0.95,
             tolerance: float | None = None, rel_tolerance: float | None = None,
             stratified: bool | None = None, method: str = "auto",
             time_limit_s: float | None = None,
             generation_time_limit_s: float | None = None,
             separation: str = "cuts") -> xr.Dataset:
    """Coalition values of ``system`` on ``scenarios``, then the allocation rules.

    Coalitions of two or more share ``system.planning.shared_architecture`` (``accounts``
    unless the planning chooses ``pooled`` or ``p2p`` exchange); each microgrid alone has its
    own battery (:func:`framework.game.values.coalition_values`).

    Parameters
    ----------
    rules : sequence of str
        Among ``shapley``, ``nucleolus``, ``least_core``, ``dual``, ``proportional_cost``,
        ``proportional_energy``, ``sampled_shapley``. The first three need all ``2^n - 1``
        coalitions; ``dual`` one LP of the grand coalition
        (:func:`framework.game.dual.dual_allocation`); the others only the singletons, the
        grand coalition and (sampled Shapley) the prefixes of the sampled orders.
    cache_dir : path, optional
        Cache of coalition values (see :mod:`framework.game.values`).
    comm : mpi4py communicator, optional
        Default ``MPI.COMM_WORLD``; the solves are spread over its ranks.
    n_permutations, seed, confidence : int, int, float
        Sampled Shapley: number of random orders (with a tolerance: the most), their seed,
        and the CI level.
    tolerance, rel_tolerance : float, optional
        Sampled Shapley with a stopping rule (:func:`framework.game.sampling.
        sampled_shapley_adaptive`): stop when every CI half-width is within ``tolerance``
        (currency/yr) or ``rel_tolerance`` times the saving of sharing.
    stratified : bool, optional
        Sampled Shapley in stratified groups of ``n`` orders (default: with a tolerance).
    method : {"auto", "enumeration", "generation"}
        How the nucleolus, the least core and the core checks are found: from all
        ``2^n - 1`` coalition values, or by constraint generation
        (:mod:`framework.game.generation`: a master LP over the coalitions found so far and
        a separation that finds the most violated one; each rule's core check is certified
        by that separation). ``auto``: enumeration up to :data:`ENUMERATION_MAX`
        microgrids. Under generation the exact ``shapley`` is refused (it needs every
        coalition): use ``sampled_shapley``.
    time_limit_s : float, optional
        HiGHS time limit per coalition solve.
    generation_time_limit_s : float, optional
        Time limit of each generation run (least core, nucleolus, each core check); a run
        that reaches it reports what it proved (``certified`` false).
    separation : {"cuts", "milp"}
        Generation's separation: Lagrangian cuts (:mod:`framework.game.cuts`, the default)
        or one MILP (:class:`framework.game.separation.Separator`); both are exact.

    Returns
    -------
    xr.Dataset
        See the module docstring; the same on every rank.
    """
    rules = check_rules(rules)
    players = tuple(system.names)
    generate = _generates(method, len(players), rules)
    adaptive = tolerance is not None or rel_tolerance is not None
    if adaptive and "sampled_shapley" not in rules:
        raise InputError("tolerance: applies to the rule sampled_shapley, which is not among "
                         f"the rules {list(rules)}")
    stratified = adaptive if stratified is None else stratified
    parts, sampled, orders = [], None, []
    if "sampled_shapley" in rules and adaptive:
        sampled = sampled_shapley_adaptive(
            system, scenarios, tolerance=tolerance, rel_tolerance=rel_tolerance,
            confidence=confidence, max_permutations=n_permutations, stratified=stratified,
            seed=seed, cache_dir=cache_dir, comm=comm, time_limit_s=time_limit_s)
        parts.append(sampled.values)
    elif "sampled_shapley" in rules:
        orders = r.sample_permutations(players, n_permutations, seed, stratified)
    wanted = needed_coalitions(players, [x for x in rules if not (
        generate and x in GENERATED_RULES)], orders)
    known = set(parts[0].values) if parts else set()
    missing = [c for c in (wanted if wanted is not None else map(frozenset, all_coalitions(
        players))) if frozenset(c) not in known]
    if missing or not parts:
        parts.append(coalition_values(system, scenarios, missing, cache_dir=cache_dir,
                                      comm=comm, time_limit_s=time_limit_s))
    generated = None
    with _cache(cache_dir, comm) if generate else contextlib.nullcontext(cache_dir) as folder:
        if generate:
            reference = sampled.sampled.estimate if sampled is not None else (
                r.sampled_shapley(merge_values(parts).cost().__getitem__, players,
                                  n_permutations, seed, confidence, stratified).estimate
                if orders else None)
            generated = _generation(system, scenarios, rules, parts, folder, comm,
                                    generation_time_limit_s, reference, separation)
        values = merge_values(parts)
        dual = dual_allocation(system, scenarios, standalone=False, cache_dir=folder,
                               comm=comm, time_limit_s=time_limit_s) if "dual" in rules \
            else None
        ds = allocation_dataset(values, rules, n_permutations=n_permutations, seed=seed,
                                confidence=confidence, stratified=stratified, dual=dual,
                                adaptive=sampled, generated=generated)
        if generate:
            ds = _with_core_checks(ds, {x: core_check_generation(
                system, scenarios, dict(zip(players, map(float, ds["allocation"].sel(
                    rule=x).values))), cache_dir=folder, comm=comm,
                time_limit_s=generation_time_limit_s, separation=separation) for x in rules})
            ds.attrs["core_check"] = _certificate(ds, separation)
            ds.attrs["separation"] = separation
    ds.attrs["allocation_method"] = "generation" if generate else "enumeration"
    stats = values.stats
    ds.attrs = {**provenance(system, scenarios, "allocation", rules=list(rules),
                             cache_dir=str(cache_dir or ""), cache_hits=stats.cache_hits,
                             solved=stats.solved, ranks=stats.ranks,
                             coalitions_wall_s=stats.wall_s), **ds.attrs}
    return ds


def _generates(method: str, n: int, rules: Sequence[str]) -> bool:
    """Whether ``method`` means constraint generation for ``n`` microgrids; the exact
    Shapley value under generation is an :class:`InputError`."""
    if method not in METHODS:
        raise InputError(f"method: expected one of {list(METHODS)}, got {method!r}")
    generate = method == "generation" or (method == "auto" and n > ENUMERATION_MAX)
    if generate and "shapley" in rules:
        raise InputError(f"rule shapley: the exact Shapley value needs all {2 ** n - 1} "
                         f"coalition values; with {n} microgrids allocation goes by "
                         "generation (above {ENUMERATION_MAX}, or --method generation): use "
                         "sampled_shapley (with a tolerance), or --method enumeration")
    return generate


@contextlib.contextmanager
def _cache(cache_dir: str | Path | None, comm: Any) -> Iterator[str | Path]:
    """``cache_dir``, or a temporary one for the run: generation values each coalition it
    finds once and reads it again from there (rank 0 reads and writes the cache)."""
    if cache_dir is not None:
        yield cache_dir
        return
    with tempfile.TemporaryDirectory(prefix="sesplan-coalitions-") as folder:
        yield folder


def _generation(system: System, scenarios: xr.Dataset, rules: Sequence[str],
                parts: list[CoalitionValues], cache_dir: str | Path, comm: Any,
                time_limit_s: float | None, reference: Mapping[str, float] | None,
                separation: str) -> dict[str, GenerationResult]:
    """Least core (the point nearest ``reference``, see
    :func:`~framework.game.generation.least_core_generation`) and nucleolus by generation;
    the values of the coalitions generated join ``parts``."""
    kwargs = {"cache_dir": cache_dir, "comm": comm, "time_limit_s": time_limit_s,
              "separation": separation}
    results: dict[str, GenerationResult] = {}
    if "least_core" in rules:
        results["least_core"] = least_core_generation(system, scenarios, reference=reference,
                                                      **kwargs)
    if "nucleolus" in rules:
        results["nucleolus"] = nucleolus_generation(system, scenarios, **kwargs)
    found = sorted({tuple(c) for g in results.values() for c in g.coalitions})
    if found:
        parts.append(coalition_values(system, scenarios, found, cache_dir=cache_dir,
                                      comm=comm))
    return results


#: What each separation is, in the table's words.
SEPARATION_WORDS = {"cuts": "Lagrangian cuts over every coalition",
                    "milp": "a MILP over every coalition"}


def _certificate(ds: xr.Dataset, separation: str) -> str:
    """What the core checks of a generated allocation prove, in words."""
    undecided = [str(x) for x, k in zip(ds["rule"].values, ds["core_check_certified"].values)
                 if not k]
    return (f"certified by separation ({SEPARATION_WORDS[separation]})" if not undecided else
            f"by separation; not certified for {undecided} (a limit was reached: "
            "max_excess_upper bounds their excess)")


def _with_core_checks(ds: xr.Dataset, checks: Mapping[str, CoreCheck]) -> xr.Dataset:
    """Replace the enumerated checks of ``ds`` (over the coalitions it holds) by the certified
    ones of the separation: ``in_core`` 1, 0 or -1 (undecided: the separation stopped at a
    limit), ``max_excess`` (the largest excess found) and ``max_excess_upper`` (proven)."""
    players = [str(p) for p in ds["microgrid"].values]
    rules = [str(x) for x in ds["rule"].values]
    c = [checks[x] for x in rules]
    return ds.assign(
        in_core=("rule", [-1 if k.in_core is None else int(k.in_core) for k in c]),
        individually_rational=("rule", [int(k.individually_rational) for k in c]),
        efficiency_gap=("rule", [k.efficiency_gap for k in c]),
        max_excess=("rule", [k.max_excess for k in c]),
        max_excess_upper=("rule", [k.max_excess_upper for k in c]),
        core_check_certified=("rule", [int(k.certified) for k in c]),
        most_violated=("rule", [label([p for p in players if p in k.most_violated])
                                if k.most_violated else "" for k in c]))


def _row(alloc: Mapping[str, float], players: Sequence[str]) -> list[float]:
    return [float(alloc[p]) for p in players]


def allocation_dataset(values: CoalitionValues, rules: Sequence[str] = RULES, *,
                       n_permutations: int = 200, seed: int = 0, confidence: float = 0.95,
                       stratified: bool = False, dual: DualAllocation | None = None,
                       adaptive: AdaptiveShapley | None = None,
                       generated: Mapping[str, GenerationResult] | None = None
                       ) -> xr.Dataset:
    """Apply the allocation rules to solved coalition values (no planning solve here;
    ``dual`` is the solved :func:`~framework.game.dual.dual_allocation` that the rule
    ``dual`` needs, ``adaptive`` a sampled Shapley value with its stopping rule, used
    instead of sampling ``n_permutations`` orders; ``generated`` the nucleolus and least
    core found by constraint generation, used instead of enumeration).

    See the module docstring for the variables; ``attrs`` hold ``architecture`` (what the
    coalitions share), ``standalone_architecture`` (``individual``), ``grand_cost``,
    ``standalone_total``, ``saving_of_sharing_per_yr``, ``saving_of_sharing_from``,
    ``core_check`` (``complete`` or the number of coalitions checked), and with a full game
    ``least_core_epsilon`` and ``core_empty``.
    """
    rules = check_rules(rules)
    players = values.players
    game = values.cost()
    generated = dict(generated or {})
    full = len(game) == 2 ** len(players) - 1
    missing = [x for x in rules if x in FULL_GAME_RULES and x not in generated] \
        if not full else []
    if missing:
        raise InputError(f"rules {missing}: need all {2 ** len(players) - 1} coalition values, "
                         f"got {len(game)}")
    grand = values.values[frozenset(players)]
    metered = [grand.metered_kwh_per_yr[p] for p in players]
    attrs: dict[str, Any] = {}
    data: dict[str, Any] = {}
    allocations: dict[str, dict[str, float]] = {}
    lc = r.least_core(game, players) if full else None
    sampled = None
    for rule in rules:
        if rule in generated:
            g = generated[rule]
            allocations[rule] = g.allocation
            attrs.update({f"{rule}_generation": json.dumps({
                "certified": g.certified, "stopped": g.stopped, "epsilon": g.epsilon,
                "epsilon_upper": g.epsilon_upper, "coalitions": len(g.coalitions),
                "iterations": g.iterations, "stages": g.stages, "wall_s": g.wall_s,
                "separation_s": g.separation_s, "values_s": g.values_s})})
            if rule == "least_core" or "least_core_epsilon" not in attrs:
                attrs.update(least_core_epsilon=g.epsilon,
                             least_core_epsilon_upper=g.epsilon_upper)
                if g.certified:  # the least-core value is proven: the core is empty iff > 0
                    tol = 1e-6 * max(1.0, max(abs(float(v)) for v in game.values()))
                    attrs["core_empty"] = int(g.epsilon > tol)
        elif rule == "shapley":
            allocations[rule] = r.shapley(game, players)
        elif rule == "nucleolus":
            allocations[rule] = r.nucleolus(game, players)
        elif rule == "least_core":
            allocations[rule] = lc.allocation
        elif rule == "proportional_cost":
            allocations[rule] = r.proportional_to_standalone(game, players)
        elif rule == "proportional_energy":
            allocations[rule] = r.proportional(game, dict(zip(players, metered)), players)
        elif rule == "dual":
            if dual is None:
                raise InputError("rule dual: needs the dual_allocation of the grand coalition")
            allocations[rule] = dual.allocation
            data.update(_dual_data(dual, players))
            attrs.update(_dual_attrs(dual))
        else:
            if adaptive is not None:
                sampled = adaptive.sampled
                attrs.update(shapley_converged=int(adaptive.converged),
                             shapley_stopped_by=adaptive.reason,
                             shapley_target_half_width=adaptive.target)
            else:
                sampled = r.sampled_shapley(game.__getitem__, players, n_permutations, seed,
                                            confidence, stratified)
            allocations[rule] = sampled.estimate
            data["shapley_std_error"] = ("microgrid", _row(sampled.std_error, players))
            data["shapley_ci_low"] = ("microgrid", _row(sampled.ci_low, players))
            data["shapley_ci_high"] = ("microgrid", _row(sampled.ci_high, players))
            attrs.update(shapley_seed=sampled.seed, shapley_permutations=sampled.n_permutations,
                         shapley_confidence=sampled.confidence,
                         shapley_stratified=int(sampled.stratified))
    checks = {x: r.check_allocation(game, allocations[x]) for x in rules}
    alone = [game[frozenset([p])] for p in players]
    total_saving = sum(alone) - game[frozenset(players)]
    saved = np.array([[a - x for a, x in zip(alone, _row(allocations[x], players))]
                      for x in rules])
    coalitions = sorted(values.values.values(),
                        key=lambda v: (len(v.coalition), [players.index(p) for p in v.coalition]))
    data.update({
        "coalition_cost": ("coalition", [v.annual_cost for v in coalitions]),
        "coalition_cap_energy_kwh": ("coalition", [v.cap_energy_kwh for v in coalitions]),
        "coalition_cap_power_kw": ("coalition", [v.cap_power_kw for v in coalitions]),
        "coalition_size": ("coalition", [len(v.coalition) for v in coalitions]),
        "coalition_mode": ("coalition", [v.mode for v in coalitions]),
        "coalition_cached": ("coalition", [int(v.cached) for v in coalitions]),
        "coalition_solve_s": ("coalition", [v.solve_s for v in coalitions]),
        "member": (("coalition", "microgrid"), [[int(p in v.coalition) for p in players]
                                                for v in coalitions]),
        "standalone_cost": ("microgrid", alone),
        "metered_kwh_per_yr": ("microgrid", metered),
        "allocation": (("rule", "microgrid"), [_row(allocations[x], players) for x in rules]),
        "saving": (("rule", "microgrid"), saved),
        "saving_share": (("rule", "microgrid"), saved / total_saving if abs(total_saving)
                         > 1e-9 else np.full_like(saved, np.nan)),
        "efficiency_gap": ("rule", [checks[x].efficiency_gap for x in rules]),
        "individually_rational": ("rule", [int(checks[x].individually_rational) for x in rules]),
        "in_core": ("rule", [int(checks[x].in_core) for x in rules]),
        "max_excess": ("rule", [checks[x].max_excess for x in rules]),
        "most_violated": ("rule", [label([p for p in players if p in checks[x].most_violated])
                                   if checks[x].most_violated else "" for x in rules]),
    })
    if full or sampled is not None:
        for name, out in (("cap_energy_kwh", "capacity_share_energy_kwh"),
                          ("cap_power_kw", "capacity_share_power_kw")):
            cap = values.capacity(name)
            share = r.shapley(cap, players) if full else r.sampled_shapley(
                cap.__getitem__, players, sampled.n_permutations, sampled.seed,
                stratified=sampled.stratified).estimate
            data[out] = ("microgrid", _row(share, players))
    ds = xr.Dataset(data, coords={"rule": list(rules), "microgrid": list(players),
                                  "coalition": [label(v.coalition) for v in coalitions]})
    for name in ("coalition_cost", "standalone_cost", "allocation", "saving", "efficiency_gap",
                 "max_excess", "shapley_std_error", "shapley_ci_low", "shapley_ci_high"):
        if name in ds:
            ds[name].attrs["units"] = "currency/yr"
    for name, unit in (("coalition_cap_energy_kwh", "kWh"), ("coalition_cap_power_kw", "kW"),
                       ("capacity_share_energy_kwh", "kWh"), ("capacity_share_power_kw", "kW"),
                       ("metered_kwh_per_yr", "kWh/yr"), ("coalition_solve_s", "s")):
        if name in ds:
            ds[name].attrs["units"] = unit
    attrs.update(architecture=values.architecture, standalone_architecture="individual",
                 grand_cost=float(game[frozenset(players)]), standalone_total=float(sum(alone)),
                 saving_of_sharing_per_yr=float(total_saving),
                 saving_of_sharing_from=saving_source(values.architecture),
                 core_check="complete" if full else f"{len(game) - 1} of "
                 f"{2 ** len(players) - 2} proper coalitions")
    if lc is not None:
        attrs.update(least_core_epsilon=lc.epsilon, core_empty=int(r.core_is_empty(game,
                                                                                   players)))
    ds.attrs = attrs
    return ds


def _dual_data(dual: DualAllocation, players: Sequence[str]) -> dict[str, Any]:
    """Per microgrid, the parts of its dual-price share."""
    return {"dual_own_cost": ("microgrid", _row(dual.own_cost, players)),
            "dual_capacity_charge": ("microgrid", _row(dual.charge("capacity"), players)),
            "dual_energy_charge": ("microgrid", _row(dual.charge("energy"), players)),
            "dual_ageing_charge": ("microgrid", _row(dual.charge("ageing"), players))}


def _dual_attrs(dual: DualAllocation) -> dict[str, Any]:
    """The dual prices and the conditions of the core guarantee, as attributes."""
    return {"dual_station_residual": dual.station_residual,
            "dual_in_core_guaranteed": int(dual.in_core),
            "dual_annual_prices": json.dumps(dual.annual_prices, sort_keys=True),
            "dual_conditions": json.dumps([[c.name, c.holds, c.detail]
                                           for c in dual.conditions])}


def not_certified(ds: xr.Dataset) -> str:
    """Why an allocation is not certified (``""`` when it is): a generation run or a core
    check stopped at a limit, or sampled Shapley stopped before its tolerance."""
    why = []
    for rule in ds["rule"].values:
        g = ds.attrs.get(f"{rule}_generation")
        if g is not None and not json.loads(g)["certified"]:
            why.append(f"{rule}: generation stopped ({json.loads(g)['stopped']})")
    if "core_check_certified" in ds:
        why += [f"{x}: core check not proven" for x, k in zip(
            ds["rule"].values, ds["core_check_certified"].values) if not k]
    if "shapley_converged" in ds.attrs and not int(ds.attrs["shapley_converged"]):
        why.append(f"sampled_shapley: not converged ({ds.attrs['shapley_stopped_by']})")
    return "; ".join(why)


def allocation_summary(ds: xr.Dataset) -> dict[str, Any]:
    """The allocation as plain Python values (for ``--json``)."""
    players = [str(p) for p in ds["microgrid"].values]
    out: dict[str, Any] = {
        "method": ds.attrs.get("method"),
        "allocation_method": ds.attrs.get("allocation_method", "enumeration"),
        "separation": ds.attrs.get("separation"),
        "certified": not not_certified(ds),
        "not_certified_because": not_certified(ds) or None,
        "architecture": str(ds.attrs["architecture"]),
        "sharing": sharing_text(str(ds.attrs["architecture"])),
        "grand_cost": float(ds.attrs["grand_cost"]),
        "standalone_cost": dict(zip(players, map(float, ds["standalone_cost"].values))),
        "saving_of_sharing_per_yr": float(ds.attrs["saving_of_sharing_per_yr"]),
        "core_check": ds.attrs["core_check"],
        "rules": {},
        "coalitions": {"n": int(ds.sizes["coalition"]),
                       "cache_hits": int(ds.attrs.get("cache_hits", 0)),
                       "solved": int(ds.attrs.get("solved", 0)),
                       "ranks": int(ds.attrs.get("ranks", 1)),
                       "wall_s": float(ds.attrs.get("coalitions_wall_s", math.nan))},
    }
    for key in ("least_core_epsilon", "least_core_epsilon_upper", "core_empty"):
        if key in ds.attrs:
            out[key] = ds.attrs[key].item() if hasattr(ds.attrs[key], "item") else ds.attrs[key]
    if "core_empty" in out:
        out["core_empty"] = bool(out["core_empty"])
    for rule in ds["rule"].values:
        x = ds.sel(rule=rule)
        out["rules"][str(rule)] = {
            "allocation": dict(zip(players, map(float, x["allocation"].values))),
            "saving": dict(zip(players, map(float, x["saving"].values))),
            "efficiency_gap": float(x["efficiency_gap"]),
            "individually_rational": bool(x["individually_rational"]),
            "in_core": None if int(x["in_core"]) < 0 else bool(x["in_core"]),
            "max_excess": float(x["max_excess"]),
            "most_violated": str(x["most_violated"].values) or None,
        }
        if "max_excess_upper" in ds:
            out["rules"][str(rule)].update(
                max_excess_upper=float(x["max_excess_upper"]),
                core_check_certified=bool(x["core_check_certified"]))
        if f"{rule}_generation" in ds.attrs:
            out["rules"][str(rule)]["generation"] = json.loads(ds.attrs[f"{rule}_generation"])
    if "capacity_share_energy_kwh" in ds:
        out["capacity_share"] = {p: {"energy_kwh": float(e), "power_kw": float(w)} for p, e, w in
                                 zip(players, ds["capacity_share_energy_kwh"].values,
                                     ds["capacity_share_power_kw"].values)}
    if "shapley_ci_low" in ds:
        out["sampled_shapley_ci"] = {p: [float(lo), float(hi)] for p, lo, hi in zip(
            players, ds["shapley_ci_low"].values, ds["shapley_ci_high"].values)}
        a = ds.attrs
        out["sampled_shapley"] = {
            "permutations": int(a["shapley_permutations"]),
            "stratified": bool(a.get("shapley_stratified", 0)),
            "confidence": float(a["shapley_confidence"]),
            **({"converged": bool(a["shapley_converged"]), "stopped_by": a["shapley_stopped_by"],
                "target_half_width": float(a["shapley_target_half_width"])}
               if "shapley_converged" in a else {})}
    if "dual_conditions" in ds.attrs:
        out["dual"] = {
            "in_core_guaranteed": bool(ds.attrs["dual_in_core_guaranteed"]),
            "station_residual": float(ds.attrs["dual_station_residual"]),
            "annual_prices": json.loads(ds.attrs["dual_annual_prices"]),
            "conditions": [{"name": n, "holds": h, "detail": d}
                           for n, h, d in json.loads(ds.attrs["dual_conditions"])],
            "parts": {p: {"own_cost": float(o), "capacity_charge": float(c),
                          "energy_charge": float(e), "ageing_charge": float(a)}
                      for p, o, c, e, a in zip(
                players, ds["dual_own_cost"].values, ds["dual_capacity_charge"].values,
                ds["dual_energy_charge"].values, ds["dual_ageing_charge"].values)}}
    return out


def sharing_text(arch: str) -> str:
    """What the coalitions of an allocation share and what their saving is, in words:
    ``coalitions share an accounts station (alone: an own battery): the saving is storage
    sharing``."""
    a = architecture(arch)
    what = f"an {a.station} station" if a.station == "accounts" else f"a {a.station} station"
    if a.p2p:
        what += " and exchange energy directly (p2p)"
    return (f"coalitions share {what} (alone: an own battery): the saving is "
            f"{saving_source(arch)}")


#: How the table prints ``in_core``: -1 is undecided (a separation stopped at a limit).
IN_CORE = {1: "yes", 0: "no", -1: "undecided"}


def allocation_table(ds: xr.Dataset) -> str:
    """A plain-text table: what the coalitions share, then the cost share per microgrid and
    rule, then the checks."""
    players = [str(p) for p in ds["microgrid"].values]
    rules = [str(x) for x in ds["rule"].values]
    width = max(12, *(len(x) for x in rules))
    lines = [sharing_text(str(ds.attrs["architecture"])),
             f"{'microgrid':<14}{'alone':>14}" + "".join(f"{x:>{width + 2}}" for x in rules)]
    for j, p in enumerate(players):
        cells = "".join(f"{float(ds['allocation'].sel(rule=x)[j]):>{width + 2},.0f}"
                        for x in rules)
        lines.append(f"{p:<14}{float(ds['standalone_cost'][j]):>14,.0f}{cells}")
    total = "".join(f"{float(ds['allocation'].sel(rule=x).sum()):>{width + 2},.0f}"
                    for x in rules)
    lines.append(f"{'total':<14}{float(ds['standalone_cost'].sum()):>14,.0f}{total}")
    lines.append(f"{'in core':<28}" + "".join(
        f"{IN_CORE[int(ds['in_core'].sel(rule=x))]:>{width + 2}}" for x in rules))
    for x in rules:
        worst = str(ds["most_violated"].sel(rule=x).values)
        if worst:
            lines.append(f"  {x}: most violated coalition {worst} (excess "
                         f"{float(ds['max_excess'].sel(rule=x)):,.2f} currency/yr)")
    if "shapley_converged" in ds.attrs:
        lines.append(f"  sampled_shapley: {int(ds.attrs['shapley_permutations'])} orders, "
                     + ("converged" if int(ds.attrs["shapley_converged"]) else
                        "NOT converged") + f" ({ds.attrs['shapley_stopped_by']}; target CI "
                     f"half-width {float(ds.attrs['shapley_target_half_width']):,.2f})")
    if "dual_conditions" in ds.attrs:
        failed = [n for n, h, _ in json.loads(ds.attrs["dual_conditions"]) if h is False]
        lines.append("  dual: in the core of coalitions of two or more by LP duality"
                     if int(ds.attrs["dual_in_core_guaranteed"]) else
                     "  dual: core guarantee does not hold (" + "; ".join(failed) + ")")
    lines.append(f"saving of sharing {float(ds.attrs['saving_of_sharing_per_yr']):,.0f} "
                 f"currency/yr; {int(ds.sizes['coalition'])} coalitions solved "
                 f"({ds.attrs.get('allocation_method', 'enumeration')}); core check "
                 f"{ds.attrs['core_check']}"
                 + (f"; least core epsilon {float(ds.attrs['least_core_epsilon']):,.2f}"
                    if "least_core_epsilon" in ds.attrs else "")
                 + (f" (proven at most {float(ds.attrs['least_core_epsilon_upper']):,.2f})"
                    if "least_core_epsilon_upper" in ds.attrs and not np.isclose(
                        float(ds.attrs["least_core_epsilon_upper"]),
                        float(ds.attrs["least_core_epsilon"])) else ""))
    for x in rules:
        if f"{x}_generation" in ds.attrs:
            g = json.loads(ds.attrs[f"{x}_generation"])
            lines.append(f"  {x} by generation: {g['coalitions']} coalitions generated, "
                         f"{g['iterations']} separations, {g['wall_s']:.1f} s, "
                         + ("certified" if g["certified"] else
                            f"NOT CERTIFIED ({g['stopped']})"))
    return "\n".join(lines)

