"""Coalition values ``v(C)`` from the planning model: cached, and spread over MPI ranks.

``v(C)`` is the optimal annual cost (currency/yr) of coalition ``C`` under the system's
shared architecture, ``system.planning.shared_architecture``: by default ``accounts`` (one
station of energy accounts: storage sharing, no energy moves between microgrids), or
``pooled`` (one state of charge: storage sharing and energy exchange at the station's bus),
with ``+p2p`` when microgrids also exchange directly; ``solve_ef(system, scenarios, arch,
microgrids=C)``. A singleton ``v({i})`` is microgrid ``i`` alone with its own battery
(``individual`` restricted to ``{i}``; a microgrid alone has nobody to exchange with). Every
solve is independent of the others. Under ``mpiexec -n R`` (``mpi4py.MPI.COMM_WORLD`` of size
``R > 1``) rank 0 looks the coalitions up in the cache, the missing ones are dealt to the
ranks (largest coalition first, each to the least loaded rank), rank 0 gathers the values,
writes the cache and broadcasts them; only rank 0 logs.

The cache is a folder of small JSON files, one per solve, named by a SHA-256 hash of what
determines the solve: the model-relevant configuration (tariff, storage, station, days per
year, whether simultaneous charge and discharge are forbidden, step, and the coalition's
microgrids), the scenario data of those microgrids (probabilities and profiles, bit for bit),
the coalition and its architecture: a ``pooled`` value is never reused for ``accounts``, while
the singletons (``individual`` under every shared architecture) are.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from framework import __version__
from framework.architecture import architecture
from framework.errors import InputError
from framework.io import atomic_path
from framework.model import check_scenarios_match
from framework.solve import ef
from framework.solve.highs import SolveError
from framework.system import System

log = logging.getLogger(__name__)

CACHE_FORMAT = 2


@dataclass(frozen=True)
class Task:
    """One independent solve: coalition ``coalition`` of ``system`` under the architecture
    ``mode`` (a name of :data:`framework.architecture.ARCHITECTURES`)."""

    system: System
    coalition: tuple[str, ...]
    mode: str


@dataclass(frozen=True)
class CoalitionValue:
    """The solved plan of one coalition, as much of it as the allocation rules need.

    Attributes
    ----------
    coalition : tuple of str
        Members, in the system's order.
    mode : str
        Its architecture: ``individual`` for a singleton, the shared architecture
        (``accounts``, ``pooled``, ...) for a larger coalition.
    annual_cost : float
        ``v(C)``: optimal annual cost, capex plus expected operation (currency/yr).
    capex_annual : float
        Its annualised storage investment and O&M (currency/yr).
    cap_energy_kwh, cap_power_kw : float
        Storage built: the station's (shared), or the sum of own storages (kWh, kW).
    metered_kwh_per_yr : dict
        Per member, the energy metered at its connection (what pays the exchange fee):
        to and from the station plus p2p sent and received,
        ``days_per_year * sum_s pi_s * sum_t dt * (charge + discharge + p2p_out + p2p_in)``
        (kWh/yr), with ``charge``, ``discharge`` counted only at a shared station (an own
        battery meters nothing). Under ``accounts`` a member's station flows serve its own
        account only; where energy moves (``pooled``, ``+p2p``) they are those of the
        optimum with the least metered flow (:func:`framework.solve.ef.least_exchange`).
    termination : str
        HiGHS termination (only ``optimal`` values are cached).
    solve_s : float
        Wall time of the solve (s), as first measured.
    cached : bool
        Whether this call found it in the cache.
    """

    coalition: tuple[str, ...]
    mode: str
    annual_cost: float
    capex_annual: float
    cap_energy_kwh: float
    cap_power_kw: float
    metered_kwh_per_yr: dict[str, float]
    termination: str
    solve_s: float
    cached: bool = False


@dataclass(frozen=True)
class SolveStats:
    """How a batch of coalition values was obtained.

    Attributes
    ----------
    requested, cache_hits, solved : int
        Coalition values asked for, found in the cache, and solved by this call.
    ranks : int
        MPI ranks that shared the solves.
    wall_s : float
        Wall time of the whole call on rank 0 (s).
    solve_s_per_rank : list of float
        Time each rank spent solving (s).
    """

    requested: int
    cache_hits: int
    solved: int
    ranks: int
    wall_s: float
    solve_s_per_rank: list[float] = field(default_factory=list)


def coalition_architecture(coalition: Sequence[str], shared: str) -> str:
    """``individual`` for a single microgrid (its own battery), ``shared`` otherwise."""
    return "individual" if len(coalition) == 1 else shared


def all_coalitions(players: Sequence[str]) -> list[tuple[str, ...]]:
    """Every non-empty coalition of ``players`` (``2^n - 1``), in order of size then players."""
    n = len(players)
    masks = sorted(range(1, 2 ** n), key=lambda m: (m.bit_count(), m))
    return [tuple(p for j, p in enumerate(players) if m >> j & 1) for m in masks]


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _profile_digest(scenarios: xr.Dataset, microgrid: str) -> str:
    h = hashlib.sha256()
    for name in ("load_kw", "pv_pu", "wind_pu"):
        values = scenarios[name].sel(microgrid=microgrid).transpose("scenario", "step").values
        h.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    return h.hexdigest()


def cache_key(task: Task, scenarios: xr.Dataset) -> str:
    """The SHA-256 key of a solve (see the module docstring for what goes into it)."""
    system = task.system
    mgs = {mg.name: mg for mg in system.microgrids}
    members = sorted(task.coalition)
    return _digest({
        "format": CACHE_FORMAT,
        "mode": task.mode,
        "coalition": members,
        "forbid_simultaneous": system.planning.forbid_simultaneous,
        "microgrids": [asdict(mgs[name]) for name in members],
        "profiles": [_profile_digest(scenarios, name) for name in members],
        "probability": np.asarray(scenarios["probability"].values, dtype=float).tolist(),
        "step_h": float(scenarios.attrs["step_h"]),
        "tariff": asdict(system.tariff),
        "storage": asdict(system.storage),
        "shared": asdict(system.shared),
        "days_per_year": system.planning.days_per_year,
    })


def _annual(ds: xr.Dataset, x: xr.DataArray, system: System) -> xr.DataArray:
    return system.planning.days_per_year * (ds["probability"] * x).sum("scenario")


def solve_coalition(task: Task, scenarios: xr.Dataset,
                    time_limit_s: float | None = None) -> CoalitionValue:
    """Solve one coalition with the extensive form and keep what the allocation needs."""
    start = time.perf_counter()
    ds = ef.solve_ef(task.system, scenarios, task.mode, microgrids=list(task.coalition),
                     time_limit_s=time_limit_s).sel(mode=task.mode)
    dt = float(scenarios.attrs["step_h"])
    flow = ds["p2p_in_kw"] + ds["p2p_out_kw"]
    if architecture(task.mode).shared:
        flow = flow + ds["charge_kw"] + ds["discharge_kw"]
    metered = _annual(ds, (flow * dt).sum("step"), task.system)
    return CoalitionValue(
        coalition=task.coalition, mode=task.mode, annual_cost=float(ds["annual_cost"]),
        capex_annual=float(ds["capex_annual"]),
        cap_energy_kwh=float(ds["cap_energy_kwh"].sum()),
        cap_power_kw=float(ds["cap_power_kw"].sum()),
        metered_kwh_per_yr={str(i): float(metered.sel(microgrid=i)) for i in task.coalition},
        termination=str(ds["termination"].values), solve_s=time.perf_counter() - start)


def _read_cache(folder: Path, key: str) -> CoalitionValue | None:
    path = folder / f"{key}.json"
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        value = data["value"]
        value["coalition"] = tuple(value["coalition"])
        return CoalitionValue(**{**value, "cached": True})
    except (ValueError, KeyError, TypeError):
        log.warning("cache: ignoring unreadable entry %s", path)
        return None


def _write_cache(folder: Path, key: str, value: CoalitionValue, system: System) -> None:
    entry = {"key": key, "system": system.name, "sesplan": __version__,
             "value": {**asdict(value), "cached": False}}
    with atomic_path(folder / f"{key}.json") as tmp:
        tmp.write_text(json.dumps(entry, indent=1, sort_keys=True))


def world() -> Any:
    """``mpi4py.MPI.COMM_WORLD`` (a single rank when not started by ``mpiexec``)."""
    from mpi4py import MPI

    return MPI.COMM_WORLD


def rank_zero(comm: Any = None) -> bool:
    """Whether this process is rank 0 of ``comm`` (default ``MPI.COMM_WORLD``): the one that
    logs, writes and prints."""
    return (world() if comm is None else comm).Get_rank() == 0


def deal(weights: Sequence[float], ranks: int) -> list[int]:
    """Assign task ``j`` (weight ``weights[j]``) to a rank: heaviest first, each to the rank
    with the least weight so far (ties to the lowest rank). Deterministic, so every rank
    computes the same deal without communication."""
    load = [0.0] * ranks
    owner = [0] * len(weights)
    for j in sorted(range(len(weights)), key=lambda j: (-weights[j], j)):
        r = min(range(ranks), key=lambda r: (load[r], r))
        owner[j] = r
        load[r] += weights[j]
    return owner


def solve_tasks(tasks: Sequence[Task], scenarios: xr.Dataset, *,
                cache_dir: str | Path | None = None, comm: Any = None,
                time_limit_s: float | None = None, label: str = "coalition"
                ) -> tuple[list[CoalitionValue], SolveStats]:
    """Solve independent tasks, from the cache where possible, spread over MPI ranks.

    Parameters
    ----------
    tasks : sequence of Task
        The solves; every rank must pass the same list (it is built deterministically).
    scenarios : xr.Dataset
        The scenario set of every task.
    cache_dir : path, optional
        Folder of the JSON cache (created if missing); no cache without it.
    comm : mpi4py communicator, optional
        Default ``MPI.COMM_WORLD``; with one rank everything runs here.
    time_limit_s : float, optional
        HiGHS time limit per solve.
    label : str
        What a task is called in the progress lines.

    Returns
    -------
    values : list of CoalitionValue
        One per task, in the order of ``tasks``, on every rank.
    stats : SolveStats
    """
    start = time.perf_counter()
    comm = world() if comm is None else comm
    rank, size = comm.Get_rank(), comm.Get_size()
    folder = Path(cache_dir) if cache_dir is not None else None
    keys = [cache_key(t, scenarios) for t in tasks] if folder is not None else []
    found: dict[int, CoalitionValue] = {}
    if rank == 0 and folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        for j, key in enumerate(keys):
            value = _read_cache(folder, key)
            if value is not None and set(value.coalition) == set(tasks[j].coalition):
                found[j] = replace(value, coalition=tasks[j].coalition)
    found = comm.bcast(found, root=0) if size > 1 else found
    missing = [j for j in range(len(tasks)) if j not in found]
    owner = deal([len(tasks[j].coalition) for j in missing], size)
    mine = [j for j, r in zip(missing, owner) if r == rank]
    if rank == 0:
        log.info("%d %s values: %d from the cache, %d to solve on %d rank(s)", len(tasks),
                 label, len(found), len(missing), size)
    local: dict[int, CoalitionValue] = {}
    error: tuple[str, str] | None = None
    busy = time.perf_counter()
    for n, j in enumerate(mine, start=1):
        try:
            local[j] = solve_coalition(tasks[j], scenarios, time_limit_s)
        except (InputError, SolveError) as err:
            error = (type(err).__name__, f"{label} {list(tasks[j].coalition)}: {err}")
            break
        if rank == 0:
            log.info("rank 0: %s %d/%d %s (%s) %.6g in %.2f s", label, n, len(mine),
                     "+".join(tasks[j].coalition), tasks[j].mode, local[j].annual_cost,
                     local[j].solve_s)
    busy = time.perf_counter() - busy
    if size > 1:
        gathered = comm.gather((local, error, busy), root=0)
        payload = None
        if rank == 0:
            merged = {j: v for part, _, _ in gathered for j, v in part.items()}
            errors = [e for _, e, _ in gathered if e is not None]
            payload = (merged, errors[0] if errors else None, [b for _, _, b in gathered])
        local, error, per_rank = comm.bcast(payload, root=0)
    else:
        per_rank = [busy]
    if error is not None:
        raise (SolveError if error[0] == "SolveError" else InputError)(error[1])
    if rank == 0 and folder is not None:
        for j, value in local.items():
            if value.termination == "optimal":
                _write_cache(folder, keys[j], value, tasks[j].system)
            else:
                log.warning("%s %s ended %s: not cached", label, list(value.coalition),
                            value.termination)
    values = [found[j] if j in found else local[j] for j in range(len(tasks))]
    stats = SolveStats(len(tasks), len(found), len(local), size, time.perf_counter() - start,
                       per_rank)
    if rank == 0:
        log.info("%d %s values in %.1f s (%d cache hits, %d solved on %d rank(s))", len(tasks),
                 label, stats.wall_s, stats.cache_hits, stats.solved, size)
    return values, stats


@dataclass(frozen=True)
class CoalitionValues:
    """The values of a set of coalitions of one system.

    Attributes
    ----------
    players : tuple of str
        The system's microgrids, in its order.
    architecture : str
        What every coalition of two or more shares (``accounts``, ``pooled``, ...); a
        singleton is ``individual``.
    values : dict
        ``{frozenset(C): CoalitionValue}``.
    stats : SolveStats
    """

    players: tuple[str, ...]
    architecture: str
    values: dict[frozenset[str], CoalitionValue]
    stats: SolveStats

    def cost(self) -> dict[frozenset[str], float]:
        """The cost game ``{C: v(C)}`` (currency/yr)."""
        return {c: v.annual_cost for c, v in self.values.items()}

    def capacity(self, name: str) -> dict[frozenset[str], float]:
        """The capacity game ``{C: cap(C)}`` of ``cap_energy_kwh`` or ``cap_power_kw``."""
        return {c: getattr(v, name) for c, v in self.values.items()}


def coalition_values(system: System, scenarios: xr.Dataset,
                     coalitions: Iterable[Sequence[str]] | None = None, *,
                     cache_dir: str | Path | None = None, comm: Any = None,
                     time_limit_s: float | None = None) -> CoalitionValues:
    """``v(C)`` for every coalition ``C`` (default: all ``2^n - 1``) of the system's microgrids.

    Singletons are solved with their own battery (``individual``), larger coalitions under
    the system's shared architecture ``system.planning.shared_architecture`` (``accounts``
    by default; ``pooled``, ``accounts+p2p``, ... as the planning chooses), both restricted
    to the coalition. See
    :func:`solve_tasks` for the cache and the MPI distribution; the result is the same on
    every rank.
    """
    check_scenarios_match(system, scenarios)
    players = tuple(system.names)
    if coalitions is None:
        wanted = all_coalitions(players)
    else:
        unique = {frozenset(c) for c in coalitions}
        unknown = sorted(set().union(*unique) - set(players)) if unique else []
        if unknown or frozenset() in unique:
            raise InputError(f"coalitions: expected non-empty sets of microgrids among "
                             f"{list(players)}, got unknown {unknown or 'an empty one'}")
        wanted = sorted((tuple(p for p in players if p in c) for c in unique),
                        key=lambda c: (len(c), [players.index(p) for p in c]))
    shared = system.planning.shared_architecture
    tasks = [Task(system, c, coalition_architecture(c, shared)) for c in wanted]
    values, stats = solve_tasks(tasks, scenarios, cache_dir=cache_dir, comm=comm,
                                time_limit_s=time_limit_s)
    return CoalitionValues(players, shared, {frozenset(v.coalition): v for v in values}, stats)


def merge_values(parts: Sequence[CoalitionValues]) -> CoalitionValues:
    """One :class:`CoalitionValues` of several calls on the same system (a later value of a
    coalition replaces an earlier one), their statistics added up."""
    values: dict[frozenset[str], CoalitionValue] = {}
    for part in parts:
        values.update(part.values)
    per_rank = np.sum([p.stats.solve_s_per_rank for p in parts], axis=0).tolist()
    stats = SolveStats(sum(p.stats.requested for p in parts),
                       sum(p.stats.cache_hits for p in parts),
                       sum(p.stats.solved for p in parts), parts[0].stats.ranks,
                       sum(p.stats.wall_s for p in parts), per_rank)
    return CoalitionValues(parts[0].players, parts[0].architecture, values, stats)
