"""The leasing game on the one model builder: prices, leases, followers and operator.

The operator (leader) posts lease prices ``p = (p_E, p_P, f)``: currency per kWh-year of
leased energy (nameplate: the account holds ``(soc_max - soc_min) e_i`` usable kWh), per
kW-year of leased power, and per kWh of throughput metered at the microgrid's connection
(``charge + discharge``). Microgrid ``i`` (follower) leases ``(e_i, q_i)`` and dispatches
within its account; the station ``(E, P)`` must cover the sums of the accounts' energy and
flows in every scenario and step (``docs/lease.md``).

Everything is one joint model built by :mod:`framework.model.build`: the physical station
(``define_first_stage``, the system's real costs), one lease per microgrid
(``account_energy_kwh[i] <= e_max_i``, ``account_power_kw[i] <= q_max_i``) and the
``accounts`` dispatch of every scenario, whose ``define_accounts`` adds the account limits of
the lease and the station's cover. The model is compiled once into matrices
(:class:`LeaseGame`); every column belongs to one microgrid (its lease and dispatch) or to
the operator (the station), every row to one microgrid (its follower problem) or to the
operator (the cover). The followers' dispatch is costed without wear (the operator's); their
annual operating cost ``c0' x_i`` keeps the network fee.

With a cycle life (``storage.cycle_life``) the station's cells cost what
:func:`framework.model.ageing.define_ageing` makes them cost in the extensive form: the
annuity of ``min(lifetime_yr, N delta E / D)`` years, ``D`` the year's discharge of every
account, as the calendar row and the chords of ``crf(1 / x)`` over the station's ``E`` and
the accounts' discharge. Those rows hold follower columns and the operator's
``cell_cost_annual`` and ``cell_discharge_kwh``: they are the operator's (a leader-side cost of the followers'
response), never a follower's constraint, which keeps each follower an LP that the cycle
life does not touch (a lessee holds no cells; an own battery is its outside option ``v_i``,
the extensive form with the same ageing).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyomo.environ as pyo
import scipy.sparse as sp
import xarray as xr
from pyomo.repn import generate_standard_repn
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from framework.architecture import STATION, architecture
from framework.errors import InputError, SolveError
from framework.game.values import Task, solve_tasks
from framework.model import check_scenarios_match, scenario_data
from framework.model.ageing import define_ageing, define_cell_discharge, implied_life_yr
from framework.model.build import cell_out, cell_throughput, define_dispatch, define_first_stage
from framework.model.data import ScenarioData, YearContext
from framework.solve import lp
from framework.system import System

log = logging.getLogger(__name__)

#: What a lease is: an energy account of a shared station.
LEASE_ARCHITECTURE = "accounts"
#: What a microgrid that does not lease does: build its own battery.
STANDALONE_ARCHITECTURE = "individual"
#: Price axes, in the order of every price tuple.
AXES = ("energy", "power", "fee")
#: Relative tolerance on costs (a follower's optimum, participation, profit ties).
COST_TOL = 1e-9


def check_lease_planning(system: System) -> None:
    """A lease is an account of an ``accounts`` station without ``p2p`` exchange; any other
    planning choice is an :class:`InputError` that says how to choose accounts."""
    planning = system.planning
    if planning.shared_architecture != LEASE_ARCHITECTURE:
        raise InputError(
            f"planning: a lease is an energy account of an accounts station without direct "
            f"exchange (station 'accounts', exchange 'none'); got station "
            f"{planning.station!r}, exchange {planning.exchange!r}, under which each "
            f"microgrid's best response would depend on the others' (choose --station "
            f"accounts --exchange none)")


@dataclass(frozen=True)
class PriceBox:
    """The prices the operator may post: a lattice of ``levels`` values per axis.

    Attributes
    ----------
    energy, power, fee : tuple of float
        ``(low, high)`` of ``p_E`` (currency/kWh-yr), ``p_P`` (currency/kW-yr) and ``f``
        (currency/kWh of throughput); ``low == high`` fixes the axis (one level).
    levels : int
        Values per free axis, evenly spaced from low to high (both included).
    """

    energy: tuple[float, float]
    power: tuple[float, float]
    fee: tuple[float, float] = (0.0, 0.0)
    levels: int = 41

    def __post_init__(self) -> None:
        for name in AXES:
            pair = tuple(getattr(self, name))
            if len(pair) != 2 or not all(isinstance(v, (int, float)) and np.isfinite(v)
                                         and v >= 0 for v in pair) or pair[0] > pair[1]:
                raise InputError(f"{name} price bounds: expected (low, high) with "
                                 f"0 <= low <= high, got {pair!r}")
            object.__setattr__(self, name, (float(pair[0]), float(pair[1])))
        if not isinstance(self.levels, int) or self.levels < 2:
            raise InputError(f"price levels: expected an integer >= 2, got {self.levels!r}")

    def bounds(self, axis: int) -> tuple[float, float]:
        return getattr(self, AXES[axis])

    def size(self, axis: int) -> int:
        """Levels of axis ``axis`` (1 when fixed)."""
        low, high = self.bounds(axis)
        return 1 if low == high else self.levels

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.size(a) for a in range(3))  # type: ignore[return-value]

    def step(self, axis: int) -> float:
        low, high = self.bounds(axis)
        n = self.size(axis)
        return 0.0 if n == 1 else (high - low) / (n - 1)

    def values(self, axis: int) -> np.ndarray:
        """The prices of axis ``axis``."""
        return self.bounds(axis)[0] + self.step(axis) * np.arange(self.size(axis))

    def prices(self, index: tuple[int, int, int]) -> tuple[float, float, float]:
        """The prices ``(p_E, p_P, f)`` at lattice index ``index``."""
        return tuple(self.bounds(a)[0] + self.step(a) * index[a]  # type: ignore[return-value]
                     for a in range(3))


def default_price_box(system: System, levels: int = 41,
                      fee: tuple[float, float] | None = None) -> PriceBox:
    """From half to one and a half times a microgrid's own annual cost per kWh
    (``(crf + om) c_E``) and per kW (``(crf + om) c_P``); the fee as given, by default
    fixed at the wear ``degradation_cost_per_kwh`` (passed on at cost)."""
    tech = system.storage
    own = tech.annual_factor
    e, p = own * tech.capex_energy_per_kwh, own * tech.capex_power_per_kw
    wear = tech.degradation_cost_per_kwh
    return PriceBox((0.5 * e, 1.5 * e), (0.5 * p, 1.5 * p),
                    (wear, wear) if fee is None else fee, levels)


def follower_view(system: System) -> System:
    """The system whose dispatch cost is a lessee's: no wear (the operator's cost; the
    lessee pays the fee ``f`` instead), everything else (network fee included) as is."""
    return replace(system, storage=replace(system.storage, degradation_cost_per_kwh=0.0))


def lease_caps(system: System, scenarios: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The largest lease each microgrid can use, ``(e_max, q_max)`` (kWh, kW).

    ``q_max_i``: the smallest of ``station_limit_kw``, ``storage.power_max_kw`` and the most
    any storage flow of ``i`` can carry, ``max_{s,t} max(pv + wind + import_limit,
    load + export_limit)``; ``e_max_i = T dt eta_c q_max_i / (soc_max - soc_min)``: an
    account holds at most what it can charge in a day.
    """
    tech = system.storage
    dt = float(scenarios.attrs["step_h"])
    steps = scenarios.sizes["step"]
    e_max, q_max = [], []
    for mg in system.microgrids:
        sel = scenarios.sel(microgrid=mg.name)
        limits = [v for v in (mg.station_limit_kw, tech.power_max_kw) if v is not None]
        if mg.import_limit_kw is not None and mg.export_limit_kw is not None:
            supply = mg.pv_kw * sel["pv_pu"] + mg.wind_kw * sel["wind_pu"] + mg.import_limit_kw
            sink = sel["load_kw"] + mg.export_limit_kw
            limits.append(float(max(supply.max(), sink.max())))
        if not limits:
            raise InputError(f"microgrid {mg.name!r}: a lease needs import_limit_kw and "
                             f"export_limit_kw (or station_limit_kw, or "
                             f"storage.power_max_kw) to bound what it can lease")
        q_max.append(min(limits))
        e_max.append(steps * dt * tech.eta_charge * q_max[-1]
                     / (tech.soc_max_frac - tech.soc_min_frac))
    return np.array(e_max), np.array(q_max)


def check_loads(system: System, scenarios: xr.Dataset) -> None:
    """Every microgrid has some load (a lessee without load is not a customer)."""
    load = scenarios["load_kw"].sel(microgrid=system.names)
    for name in system.names:
        if not float(np.abs(load.sel(microgrid=name)).max()) > 0:
            raise InputError(f"microgrid {name!r}: no load in any scenario; a lease game "
                             f"needs every microgrid to have a load (remove it)")


def build_joint_model(system: System, scenarios: xr.Dataset, e_max: np.ndarray,
                      q_max: np.ndarray) -> pyo.ConcreteModel:
    """The station, one lease per microgrid and the accounts dispatch of every scenario.

    Expressions on the model: ``operating_cost`` (the lessees' expected annual operating
    cost, no wear), ``throughput_kwh`` (annual energy metered at the connections,
    ``days sum_s pi_s dt sum_{i,t} (charge + discharge)``), ``discharge_kwh`` (the annual
    discharge of the station's cells, ``days sum_s pi_s dt sum_{i,t} discharge``) and
    ``capex_annual`` (the station's annual cost at the system's real prices; with a cycle
    life its cells' annuity follows ``discharge_kwh``, :func:`define_ageing`).
    """
    names = system.names
    m = pyo.ConcreteModel(name="lease game")
    define_first_stage(m, system, {STATION: tuple(names)}, shared=True)
    m.account_energy_kwh = pyo.Var(names, within=pyo.NonNegativeReals,
                                   bounds=lambda b, i: (0.0, e_max[names.index(i)]))
    m.account_power_kw = pyo.Var(names, within=pyo.NonNegativeReals,
                                 bounds=lambda b, i: (0.0, q_max[names.index(i)]))
    data = [scenario_data(scenarios, k) for k in range(scenarios.sizes["scenario"])]
    m.scenario = pyo.Block(range(len(data)))
    view = follower_view(system)
    for k, d in enumerate(data):
        define_dispatch(m.scenario[k], m, view, d, architecture(LEASE_ARCHITECTURE), names)
    days = system.planning.days_per_year
    m.operating_cost = pyo.Expression(expr=days * pyo.quicksum(
        d.probability * m.scenario[k].daily_cost for k, d in enumerate(data)))
    m.throughput_kwh = pyo.Expression(expr=days * pyo.quicksum(
        d.probability * d.step_h * cell_throughput(m.scenario[k]) for k, d in enumerate(data)))
    m.discharge_kwh = pyo.Expression(expr=days * pyo.quicksum(
        d.probability * d.step_h * pyo.quicksum(cell_out(m.scenario[k], STATION, t)
                                                for t in m.scenario[k].T)
        for k, d in enumerate(data)))
    define_station_ageing(m, system, data)
    m.objective = pyo.Objective(expr=m.operating_cost, sense=pyo.minimize)
    return m


def define_station_ageing(m: pyo.ConcreteModel, system: System,
                          data: list[ScenarioData]) -> None:
    """The station's cells with a cycle life, as the extensive form writes them
    (:func:`framework.model.ageing.define_ageing` on the first stage, replacing
    ``capex_annual``, and every scenario's share of the year's discharge of the accounts,
    :func:`framework.model.ageing.define_cell_discharge`); nothing without a cycle life.
    Every row holds the operator's ``cell_*`` columns: none is a follower's."""
    if system.storage.cycle_life is None:
        return
    year = YearContext.of(system, data)
    define_ageing(m, system, year, system.shared.capex_multiplier)
    for k in range(len(data)):
        define_cell_discharge(m.scenario[k], m, system, year, k, cell_out)


def _owner(var: Any, names: list[str]) -> int:
    """The microgrid a column belongs to (its first index), or -1 (the station)."""
    index = var.index()
    key = index[0] if isinstance(index, tuple) else index
    return names.index(key) if key in names else -1


@dataclass
class LeaseGame:
    """The compiled game: the joint model's matrices and what each part means.

    Attributes
    ----------
    system, scenarios, box
        The system (planning ``accounts``), its scenario set and the price lattice.
    names : list of str
        The microgrids (followers), in the system's order.
    matrix : scipy.sparse.csr_array
        Rows of the joint model, ``row_lower <= matrix x <= row_upper``.
    col_lower, col_upper, integer : np.ndarray
        Column bounds and integrality (a modular station).
    operating, throughput, station_cost : np.ndarray
        Per column: the lessees' annual operating cost ``c0``, the annual metered energy
        (kWh/yr per unit) and the station's annual cost (with a cycle life, on the column
        ``cell_cost_annual`` of its cells).
    discharge : np.ndarray
        Per column: the annual discharge of the station's cells (kWh/yr per unit).
    owner, row_owner : np.ndarray
        Microgrid index of each column and row; -1: the operator's.
    lease_energy, lease_power, station_energy, station_power : np.ndarray or int
        Columns of each microgrid's ``e_i``, ``q_i`` and of the station's ``E``, ``P``.
    e_max, q_max : np.ndarray
        The lease caps (:func:`lease_caps`).
    standalone, no_storage, cooperative : np.ndarray, np.ndarray, float
        ``v_i`` (own battery, ``individual``), ``N_i`` (no storage) and the cooperative
        optimum (every microgrid in one ``accounts`` station), currency/yr.
    wear_per_kwh : float
        The operator's wear on the metered throughput (``degradation_cost_per_kwh``).
    build_s : float
        Time to build and compile (s).
    """

    system: System
    scenarios: xr.Dataset
    box: PriceBox
    names: list[str]
    matrix: sp.csr_array
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integer: np.ndarray
    operating: np.ndarray
    throughput: np.ndarray
    station_cost: np.ndarray
    owner: np.ndarray
    row_owner: np.ndarray
    lease_energy: np.ndarray
    lease_power: np.ndarray
    station_energy: int
    station_power: int
    e_max: np.ndarray
    q_max: np.ndarray
    standalone: np.ndarray
    no_storage: np.ndarray
    cooperative: float
    wear_per_kwh: float
    discharge: np.ndarray
    build_s: float = 0.0
    account_cols: list[np.ndarray] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.names)

    def cols(self, i: int) -> np.ndarray:
        """Columns of follower ``i`` (its lease and dispatch)."""
        return np.flatnonzero(self.owner == i)

    def rows(self, i: int) -> np.ndarray:
        """Rows of follower ``i``'s problem."""
        return np.flatnonzero(self.row_owner == i)

    def price_cost(self, i: int, prices: tuple[float, float, float]) -> np.ndarray:
        """Follower ``i``'s annual cost per column at ``prices`` (full length, zero outside
        its columns): ``c0 + p_E [e_i] + p_P [q_i] + f * throughput``."""
        cost = np.where(self.owner == i, self.operating + prices[2] * self.throughput, 0.0)
        cost[self.lease_energy[i]] += prices[0]
        cost[self.lease_power[i]] += prices[1]
        return cost

    def tol(self, i: int) -> float:
        """Cost tolerance of follower ``i`` (currency/yr)."""
        return COST_TOL * max(1.0, abs(float(self.standalone[i])))


def _coefficients(expr: Any, position: dict[int, int], size: int) -> np.ndarray:
    repn = generate_standard_repn(expr, compute_values=True, quadratic=False)
    out = np.zeros(size)
    for var, coef in zip(repn.linear_vars, repn.linear_coefs):
        if id(var) in position:
            out[position[id(var)]] += coef
    return out


def outside_options(system: System, scenarios: xr.Dataset, *, cache_dir: Any = None,
                    comm: Any = None, time_limit_s: float | None = None
                    ) -> tuple[np.ndarray, np.ndarray, float]:
    """``v_i`` (own battery), ``N_i`` (no storage) and the cooperative optimum (all in one
    ``accounts`` station), as cached coalition solves spread over MPI ranks."""
    names = system.names
    tasks = [Task(system, (i,), STANDALONE_ARCHITECTURE) for i in names]
    tasks += [Task(system, (i,), "none") for i in names]
    tasks.append(Task(system, tuple(names), LEASE_ARCHITECTURE))
    values, _ = solve_tasks(tasks, scenarios, cache_dir=cache_dir, comm=comm,
                            time_limit_s=time_limit_s, label="lease alternative")
    n = len(names)
    costs = np.array([v.annual_cost for v in values])
    return costs[:n], costs[n:2 * n], float(costs[-1])


def build_game(system: System, scenarios: xr.Dataset, box: PriceBox | None = None, *,
               cache_dir: Any = None, comm: Any = None,
               time_limit_s: float | None = None) -> LeaseGame:
    """Check the inputs, solve the outside options and compile the joint model.

    Raises
    ------
    InputError
        Planning other than ``accounts`` without p2p, forbidden simultaneous charge (the
        followers' problems must be LPs), demand charges (not modelled here), a microgrid
        without load, leases without a bound.
    """
    start = time.perf_counter()
    check_lease_planning(system)
    if system.planning.forbid_simultaneous:
        raise InputError("planning.forbid_simultaneous: the lease game needs each "
                         "microgrid's problem to be an LP (set it to false)")
    if system.has_demand_charges:
        raise InputError("lease game: demand charges price each microgrid's peak over the "
                         "days of a billing period, which the lessees' problems here do not "
                         "model; leave tariff demand charges unset for leasing")
    check_scenarios_match(system, scenarios)
    check_loads(system, scenarios)
    box = default_price_box(system) if box is None else box
    e_max, q_max = lease_caps(system, scenarios)
    standalone, no_storage, cooperative = outside_options(
        system, scenarios, cache_dir=cache_dir, comm=comm, time_limit_s=time_limit_s)
    names = system.names
    m = build_joint_model(system, scenarios, e_max, q_max)
    form = LinearStandardFormCompiler().write(m, mixed_form=True, set_sense=pyo.minimize)
    columns = form.columns
    position = {id(v): j for j, v in enumerate(columns)}
    size = len(columns)
    sense = np.array([row.bound_type for row in form.rows], dtype=int)
    rhs = np.asarray(form.rhs, dtype=float)
    matrix = sp.csr_array(form.A)
    owner = np.array([_owner(v, names) for v in columns])
    row_owner = np.full(matrix.shape[0], -1)
    for r in range(matrix.shape[0]):
        who = owner[matrix.indices[matrix.indptr[r]:matrix.indptr[r + 1]]]
        if who.size and who.min() == who.max():
            row_owner[r] = who[0]
    accounts = [np.array([position[id(m.scenario[k].account_kwh[i, t])]
                          for k in m.scenario for t in m.scenario[k].T]) for i in names]
    game = LeaseGame(
        system=system, scenarios=scenarios, box=box, names=list(names), matrix=matrix,
        row_lower=np.where(sense == 1, -np.inf, rhs), row_upper=np.where(sense == -1, np.inf, rhs),
        col_lower=np.array([-np.inf if v.lb is None else v.lb for v in columns], dtype=float),
        col_upper=np.array([np.inf if v.ub is None else v.ub for v in columns], dtype=float),
        integer=np.array([v.is_integer() or v.is_binary() for v in columns]),
        operating=np.asarray(form.c.todense(), dtype=float).ravel(),
        throughput=_coefficients(m.throughput_kwh, position, size),
        station_cost=_coefficients(m.capex_annual, position, size),
        owner=owner, row_owner=row_owner,
        lease_energy=np.array([position[id(m.account_energy_kwh[i])] for i in names]),
        lease_power=np.array([position[id(m.account_power_kw[i])] for i in names]),
        station_energy=position[id(m.cap_energy_kwh[STATION])],
        station_power=position[id(m.cap_power_kw[STATION])],
        e_max=e_max, q_max=q_max, standalone=standalone, no_storage=no_storage,
        cooperative=cooperative, wear_per_kwh=system.storage.degradation_cost_per_kwh,
        discharge=_coefficients(m.discharge_kwh, position, size), account_cols=accounts)
    game.build_s = time.perf_counter() - start
    log.info("lease game: %d microgrids, %d scenarios, %d columns, %d rows, built in %.2f s",
             game.n, scenarios.sizes["scenario"], size, matrix.shape[0], game.build_s)
    return game


@dataclass(frozen=True)
class Outcome:
    """What the market gives at one price point (all money currency/yr).

    Attributes
    ----------
    prices : tuple of float
        ``(p_E, p_P, f)``.
    participates : np.ndarray of bool
        Whether each microgrid leases (its lease costs at most its own battery).
    lease_energy_kwh, lease_power_kw : np.ndarray
        Each lease ``e_i`` (nameplate kWh) and ``q_i`` (kW); 0 when not participating.
    rent, fee_paid, operating_cost : np.ndarray
        ``p_E e_i + p_P q_i``, ``f`` times its metered kWh, and its operating cost.
    saving : np.ndarray
        ``v_i`` minus its lease cost (rent, fee and operating cost); 0 when it builds alone.
    station_energy_kwh, station_power_kw, station_cost, wear : float
        The physical station, its annual cost and the wear on its throughput.
    peak_accounts_kwh : float
        The largest sum of the accounts over scenarios and steps (usable kWh).
    station_discharge_kwh_per_yr, station_life_yr : float
        The annual discharge of the station's cells and how long they last at it
        (:func:`framework.model.ageing.implied_life_yr`: ``lifetime_yr`` without a cycle
        life; NaN without a station).
    servable : bool
        Whether the station can serve the lessees' responses at these prices (within its
        bounds, such as ``storage.power_max_kw``); an unservable point is not open to the
        operator: its profit is ``-inf`` and the leases are reported as 0.
    """

    prices: tuple[float, float, float]
    participates: np.ndarray
    lease_energy_kwh: np.ndarray
    lease_power_kw: np.ndarray
    rent: np.ndarray
    fee_paid: np.ndarray
    operating_cost: np.ndarray
    saving: np.ndarray
    station_energy_kwh: float
    station_power_kw: float
    station_cost: float
    wear: float
    peak_accounts_kwh: float
    station_discharge_kwh_per_yr: float = 0.0
    station_life_yr: float = float("nan")
    servable: bool = True

    @property
    def income(self) -> float:
        return float(self.rent.sum() + self.fee_paid.sum())

    @property
    def profit(self) -> float:
        """Income less the station's cost and wear; ``-inf`` where the station cannot serve
        the responses (:attr:`servable`)."""
        if not self.servable:
            return -math.inf
        return self.income - self.station_cost - self.wear

    @property
    def margin(self) -> float:
        """Profit over income; NaN without income."""
        return self.profit / self.income if self.income > 0 else float("nan")


def outcome(game: LeaseGame, prices: tuple[float, float, float], participates: np.ndarray,
            x: np.ndarray | None) -> Outcome:
    """The :class:`Outcome` of the joint solution ``x`` (``None``: no one leases)."""
    n = game.n
    if x is None or not participates.any():
        zero = np.zeros(n)
        return Outcome(tuple(prices), np.zeros(n, bool), zero, zero, zero, zero, zero,
                       zero, 0.0, 0.0, 0.0, 0.0, 0.0)
    x = np.where(np.isin(game.owner, np.flatnonzero(~participates)), 0.0, x)
    on = participates.astype(float)
    energy, power = x[game.lease_energy] * on, x[game.lease_power] * on
    metered = np.array([game.throughput[game.cols(i)] @ x[game.cols(i)] for i in range(n)])
    operating = np.array([game.operating[game.cols(i)] @ x[game.cols(i)] for i in range(n)])
    rent = prices[0] * energy + prices[1] * power
    fee_paid = prices[2] * metered * on
    saving = np.where(participates, game.standalone - rent - fee_paid - operating, 0.0)
    accounts = sum(x[c] for c, p in zip(game.account_cols, participates) if p)
    station = float(x[game.station_energy])
    discharge = float(game.discharge @ x)
    return Outcome(tuple(prices), participates.copy(), energy, power, rent, fee_paid,
                   np.where(participates, operating, 0.0), saving,
                   station, float(x[game.station_power]),
                   float(game.station_cost @ x), float(game.wear_per_kwh * metered @ on),
                   float(np.max(accounts)), discharge,
                   implied_life_yr(game.system.storage, station, discharge))


class Follower:
    """Microgrid ``i``'s problem at posted prices: its rows and columns of the joint model,
    one HiGHS instance re-solved from its last basis when only the prices change."""

    def __init__(self, game: LeaseGame, i: int) -> None:
        self.game, self.i = game, i
        self.cols, rows = game.cols(i), game.rows(i)
        self.h = lp.new_highs(threads=1)
        lp.pass_model(self.h, np.zeros(self.cols.size), game.col_lower[self.cols],
                      game.col_upper[self.cols], game.matrix[rows][:, self.cols],
                      game.row_lower[rows], game.row_upper[rows])

    def value(self, prices: tuple[float, float, float]) -> float:
        """``V_i(p)``: the least annual cost of microgrid ``i`` leasing at ``prices``."""
        cost = self.game.price_cost(self.i, prices)[self.cols]
        self.h.changeColsCost(self.cols.size, np.arange(self.cols.size, dtype=np.int32), cost)
        if lp.run(self.h) != lp.Status.kOptimal:
            raise SolveError(f"lease: the problem of microgrid {self.game.names[self.i]!r} "
                             f"ended with '{self.h.modelStatusToString(self.h.getModelStatus())}'"
                             f" at prices {prices}")
        return float(self.h.getInfo().objective_function_value)
