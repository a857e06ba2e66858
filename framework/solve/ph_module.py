"""The mpi-sppy model module of the planning model, for mpi-sppy's own drivers.

mpi-sppy drives a model through a plain module with five functions (the contract of its
``examples/farmer``): :func:`scenario_creator`, :func:`scenario_names_creator`,
:func:`kw_creator`, :func:`inparser_adder` and :func:`scenario_denouement`. This one builds
every scenario with the one model builder (through
:func:`framework.model.stochastic.scenario_creator`), so the hub and spokes of mpi-sppy solve
exactly the model of the extensive form. ``kw_creator`` hands out only picklable values
(the two file paths and the architecture, ``--mode``, one with storage); each MPI rank
reads the system TOML and ``scenarios.nc`` itself, once per process.

Run mpi-sppy's generic driver on it (three ranks: PH hub, Lagrangian spoke, xhat spoke)::

    mpiexec -n 3 python -m mpi4py -m mpisppy.generic_cylinders \\
        --module-name framework.solve.ph_module --scenarios scenarios.nc --mode accounts \\
        --solver-name sesplan_highs --linearize-proximal-terms --default-rho 0.05 \\
        --max-iterations 100 --rel-gap 0.01 --lagrangian --xhatxbar

(``sesplan_highs``, :data:`~framework.solve.ph_solver.NAME`, is registered when this module
is imported; ``appsi_highs`` or ``highs`` work too, more slowly.) The driver calls
:func:`hub_and_spoke_dict_callback`, which adds the safeguards that keep the bounds valid
(:mod:`framework.solve.ph_guard`) to the hub and the outer-bound spokes.

``sesplan plan --method ph`` (:func:`framework.solve.ph.solve_ph`) uses the same model with
its own choice of rho and its guarded bound spokes; see ``docs/ph.md``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pyomo.environ as pyo
import xarray as xr

from framework._mpisppy import MultiExtension
from framework.model import check_scenarios_match, scenario_name
from framework.model.stochastic import require_storage
from framework.model.stochastic import scenario_creator as build_scenario
from framework.solve import ph_solver  # noqa: F401  (registers sesplan_highs)
from framework.solve.ph_guard import CapacityBounds, OptimalOnlyBounds, capacity_settings
from framework.system import System, default_system_path, load_system


@functools.cache
def load_inputs(system_path: str, scenarios_path: str) -> tuple[System, xr.Dataset]:
    """Read and check the system and the scenario set (once per process and pair of paths).

    Raises
    ------
    InputError
        A file is missing or wrong, or the scenarios do not fit the system.
    """
    from scenarios_gen.scenarios import read_scenarios

    system = load_system(system_path)
    scenarios = read_scenarios(scenarios_path)
    check_scenarios_match(system, scenarios, where=scenarios_path)
    return system, scenarios


def scenario_creator(scenario_name: str, *, system_path: str, scenarios_path: str,
                     mode: str) -> pyo.ConcreteModel:
    """Build scenario ``scen<k>`` of the file ``scenarios_path`` with its root node attached.

    Parameters
    ----------
    scenario_name : str
        ``scen<k>``, ``k`` the position in the scenario file.
    system_path, scenarios_path : str
        System TOML and scenario NetCDF (read once per process).
    mode : str
        An architecture with storage (:data:`framework.architecture.ARCHITECTURES`).
    """
    system, scenarios = load_inputs(system_path, scenarios_path)
    return build_scenario(scenario_name, system=system, scenarios=scenarios, mode=mode)


def scenario_names_creator(num_scens: int | None, start: int | None = None) -> list[str]:
    """Names ``scen<start>`` .. ``scen<start + num_scens - 1>``."""
    if num_scens is None:
        raise ValueError("scenario_names_creator needs the number of scenarios")
    first = 0 if start is None else start
    return [scenario_name(k) for k in range(first, first + num_scens)]


def inparser_adder(cfg: Any) -> None:
    """Add ``--system``, ``--scenarios``, ``--mode`` (and an optional ``--num-scens``)."""
    cfg.num_scens_optional()
    cfg.add_to_config("system", description="system TOML file (default: the shipped system)",
                      domain=str, default=None)
    cfg.add_to_config("scenarios", description="scenario NetCDF file (sesplan scenarios)",
                      domain=str, default=None)
    cfg.add_to_config("mode", description="the sharing architecture, one with storage: "
                      "individual, accounts, pooled, each also +p2p (default accounts)",
                      domain=str, default="accounts")


def kw_creator(cfg: Any) -> dict[str, str]:
    """The keyword arguments of :func:`scenario_creator`: two paths and the architecture.

    Fills ``cfg.num_scens`` from the scenario file when it was not given; another number
    than the file holds is an error (the probabilities of a scenario set sum to 1 only
    over all of its scenarios), and so is an architecture without storage.
    """
    require_storage(cfg.mode, "progressive hedging")
    if cfg.get("scenarios") is None:
        raise ValueError("--scenarios is required (a file written by 'sesplan scenarios')")
    system_path = str(cfg.get("system") or default_system_path())
    scenarios_path = str(Path(cfg.scenarios))
    _, scenarios = load_inputs(system_path, scenarios_path)
    available = int(scenarios.sizes["scenario"])
    if cfg.get("num_scens") is None:
        cfg.num_scens = available
    elif cfg.num_scens != available:
        raise ValueError(f"--num-scens {cfg.num_scens}: {scenarios_path} has {available} "
                         "scenarios; leave --num-scens out to use them all")
    return {"system_path": system_path, "scenarios_path": scenarios_path, "mode": cfg.mode}


def hub_and_spoke_dict_callback(hub_dict: dict, spoke_dicts: list[dict], cfg: Any) -> None:
    """Called by ``generic_cylinders`` before it spins: the hub and every spoke that computes
    outer bounds get :class:`~framework.solve.ph_guard.CapacityBounds` (finite capacity
    bounds, so no Lagrangian subproblem is unbounded) and
    :class:`~framework.solve.ph_guard.OptimalOnlyBounds` (a subproblem not solved to
    optimality gives no bound)."""
    kwargs = kw_creator(cfg)
    template = scenario_creator(scenario_name(0), **kwargs)
    settings = capacity_settings(template)
    for d in (hub_dict, *spoke_dicts):
        cls = d.get("hub_class") or d.get("spoke_class")
        if cls is None or not ("Hub" in cls.__name__ or "Outer" in cls.__name__):
            continue
        opt_kwargs = d["opt_kwargs"]
        opt_kwargs["options"]["sesplan_capacity"] = settings
        ours = [OptimalOnlyBounds, CapacityBounds]
        current = opt_kwargs.get("extensions")
        if current is MultiExtension:
            opt_kwargs["extension_kwargs"]["ext_classes"] = [
                *opt_kwargs["extension_kwargs"]["ext_classes"], *ours]
        else:
            opt_kwargs["extensions"] = MultiExtension
            opt_kwargs["extension_kwargs"] = {
                "ext_classes": [*([current] if current is not None else []), *ours]}


def scenario_denouement(rank: int, scenario_name: str, scenario: pyo.ConcreteModel) -> None:
    """Nothing to report per scenario; the result is assembled from the final capacities."""
