"""System description: microgrids, history source, tariff, storage technology, planning.

Every part is a frozen dataclass validated on creation; :func:`load_system` reads a TOML file
and :func:`system_to_dict` writes the exact configuration back (stored in every result).
Every default lives here, in the field definitions.

A system file looks like::

    name = "four-microgrids"

    [history]
    source = "simbench"          # simbench | csv | netcdf | days
    step_h = 1.0

    [[microgrid]]
    name = "households"
    peak_load_kw = 400.0
    load_profile = "H0-A"
    pv_kw = 300.0
    pv_profile = "PV3"

    [tariff]
    price_buy_per_kwh = 0.30     # one value, or one value per step of the day
    [storage]
    capex_energy_per_kwh = 300.0
    [planning]
    storage = "both"          # none | individual | shared | both
    station = "accounts"      # accounts | pooled
    exchange = "none"         # none | p2p

Paths in ``[history]`` are relative to the system file.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from framework.architecture import EXCHANGES, STATIONS, STORAGES, architectures
from framework.errors import InputError

HISTORY_SOURCES = ("simbench", "csv", "netcdf", "days")
QUANTITIES = ("load_kw", "pv_pu", "wind_pu")
STORAGE_CHOICES = (*STORAGES, "both")
BILLING_PERIODS = ("month", "year")


def _check(cond: bool, key: str, expected: str, value: Any) -> None:
    if not cond:
        raise InputError(f"{key}: expected {expected}, got {value!r}")


def _numbers(obj: Any) -> None:
    """Every number-typed field holds a finite real number (not text, not a boolean)."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        if value is None or not ("float" in str(f.type) or "int" in str(f.type)):
            continue
        if isinstance(value, (list, tuple)):
            continue
        _check(isinstance(value, (int, float)) and not isinstance(value, bool)
               and math.isfinite(value), f.name, "a finite number", value)


def _nonneg(obj: Any, *keys: str) -> None:
    for key in keys:
        value = getattr(obj, key)
        if value is not None:
            _check(
                isinstance(value, (int, float)) and math.isfinite(value) and value >= 0,
                key, "a finite number >= 0", value,
            )


def _vector(value: float | tuple[float, ...], key: str) -> tuple[float, ...]:
    """A scalar or a per-step sequence, stored as a tuple; checked for finite numbers."""
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    _check(len(values) > 0, key, "a number or a non-empty list of numbers", value)
    for v in values:
        _check(isinstance(v, (int, float)) and math.isfinite(v), key, "finite numbers", value)
    return tuple(float(v) for v in values)


@dataclass(frozen=True)
class History:
    """Where the historical profiles come from and how they are cleaned.

    Attributes
    ----------
    source : {"simbench", "csv", "netcdf", "days"}
        ``simbench``: the 2016 profiles shipped in the ``simbench`` package;
        ``csv``/``netcdf``: a history file with a time axis;
        ``days``: a CSV of given representative days (``scenario``, ``step``, optional
        ``probability``), used as scenarios without clustering.
    path : str, optional
        The file for ``csv``, ``netcdf`` and ``days`` (relative to the system file).
    time_column : str
        Timestamp column of a ``csv`` history (or the time dimension of a ``netcdf`` one).
    scenario_column, step_column, probability_column : str
        Columns of a ``days`` file. Without a scenario column the file is one day; without
        a probability column the days are equally likely.
    step_h : float
        Step of the scenarios in hours; the history is resampled to it (mean power).
    max_gap_h : float
        Gaps (missing steps, NaN runs) up to this length are interpolated linearly;
        longer ones are an error.
    pu_tolerance : float
        Per-unit availability up to ``1 + pu_tolerance`` is clipped to 1; above is an error.
    negative_tolerance : float
        Values down to ``-negative_tolerance`` (measurement noise) are clipped to 0 and
        counted; below is an error.
    """

    source: str = "simbench"
    path: str | None = None
    time_column: str = "time"
    scenario_column: str = "scenario"
    step_column: str = "step"
    probability_column: str = "probability"
    step_h: float = 1.0
    max_gap_h: float = 2.0
    pu_tolerance: float = 0.01
    negative_tolerance: float = 1e-3

    def __post_init__(self) -> None:
        _numbers(self)
        _check(self.source in HISTORY_SOURCES, "source", f"one of {HISTORY_SOURCES}", self.source)
        if self.source != "simbench":
            _check(isinstance(self.path, str) and self.path != "", "path",
                   f"a file path for source {self.source!r}", self.path)
        _check(isinstance(self.step_h, (int, float)) and 0 < self.step_h <= 24
               and (24 / self.step_h) == int(24 / self.step_h),
               "step_h", "a step in hours that divides 24", self.step_h)
        _nonneg(self, "max_gap_h", "pu_tolerance", "negative_tolerance")

    @property
    def steps_per_day(self) -> int:
        return round(24 / self.step_h)


@dataclass(frozen=True)
class Microgrid:
    """One microgrid: its load and renewables, where their profiles come from, its limits.

    Attributes
    ----------
    name : str
        Unique name; the ``microgrid`` coordinate of every dataset.
    peak_load_kw : float
        Peak load (kW). SimBench load profiles are per unit of their annual peak and are
        scaled by it; for ``csv``/``netcdf``/``days`` sources the load column is in kW and
        this value is not used (0 allowed).
    load_profile, pv_profile, wind_profile : str, optional
        SimBench profile names (for example ``H0-A``, ``PV3``, ``WP4``).
    pv_kw, wind_kw : float
        Installed PV and wind capacity (kW); availability is per unit of it.
    import_limit_kw, export_limit_kw : float, optional
        Grid connection limits (kW); ``None`` is unlimited; ``export_limit_kw = 0``
        forbids export.
    station_limit_kw : float, optional
        Limit of the connection to the shared station (kW), charge and discharge each.
    p2p_limit_kw : float, optional
        Limit of direct (``p2p``) exchange with the other microgrids (kW), in and out each;
        ``None`` is unlimited.
    price_buy_per_kwh, price_sell_per_kwh : float or tuple, optional
        This microgrid's own grid purchase and feed-in prices (one value or one per step);
        ``None`` takes the system's ``[tariff]``.
    demand_charge_per_kw : float, optional
        This microgrid's price per kW of its highest grid import in each billing period;
        ``None`` takes ``tariff.demand_charge_per_kw``.
    columns : dict
        For ``csv``/``netcdf``/``days`` sources: which column feeds which quantity, keys
        among ``load_kw``, ``pv_pu``, ``wind_pu``.
    """

    name: str
    peak_load_kw: float = 0.0
    load_profile: str | None = None
    pv_kw: float = 0.0
    pv_profile: str | None = None
    wind_kw: float = 0.0
    wind_profile: str | None = None
    import_limit_kw: float | None = None
    export_limit_kw: float | None = None
    station_limit_kw: float | None = None
    p2p_limit_kw: float | None = None
    price_buy_per_kwh: float | tuple[float, ...] | None = None
    price_sell_per_kwh: float | tuple[float, ...] | None = None
    demand_charge_per_kw: float | None = None
    columns: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _numbers(self)
        _check(isinstance(self.name, str) and self.name.strip() != "", "name",
               "a non-empty string", self.name)
        _nonneg(self, "peak_load_kw", "pv_kw", "wind_kw", "import_limit_kw",
                "export_limit_kw", "station_limit_kw", "p2p_limit_kw", "demand_charge_per_kw")
        for key in ("price_buy_per_kwh", "price_sell_per_kwh"):
            if getattr(self, key) is not None:
                object.__setattr__(self, key, _vector(getattr(self, key), key))
        _check(isinstance(self.columns, Mapping), "columns",
               'a table such as { load_kw = "A_load", pv_pu = "A_pv" }', self.columns)
        unknown = set(self.columns) - set(QUANTITIES)
        _check(not unknown, "columns", f"keys among {QUANTITIES}", dict(self.columns))
        object.__setattr__(self, "columns", dict(self.columns))


@dataclass(frozen=True)
class Tariff:
    """Prices per kWh (scalars or one value per step of the day) and emissions.

    Attributes
    ----------
    price_buy_per_kwh : float or tuple
        Grid purchase price (time of use when a vector).
    price_sell_per_kwh : float or tuple
        Feed-in price for exported energy.
    price_pv_per_kwh, price_wind_per_kwh : float
        Cost of using own PV / wind energy.
    voll_per_kwh : float
        Value of lost load; shedding makes every recourse problem feasible.
    curtailment_cost_per_kwh : float
        Cost of available renewable energy not used.
    grid_co2_kg_per_kwh : float or tuple
        Emission factor of grid purchases (reported).
    co2_price_per_kg : float
        Optional price on those emissions (0: reported only).
    demand_charge_per_kw : float
        Price per kW of each microgrid's highest grid import in each billing period (a
        microgrid's own ``demand_charge_per_kw`` replaces it).
    coincident_demand_charge_per_kw : float
        Price per kW of the community's highest total grid import (the sum over the
        microgrids, at their common connection) in each billing period.
    billing_period : {"month", "year"}
        The period whose peak is billed: 12 periods a year, or one.
    """

    price_buy_per_kwh: float | tuple[float, ...] = 0.30
    price_sell_per_kwh: float | tuple[float, ...] = 0.05
    price_pv_per_kwh: float = 0.0
    price_wind_per_kwh: float = 0.0
    voll_per_kwh: float = 10.0
    curtailment_cost_per_kwh: float = 0.0
    grid_co2_kg_per_kwh: float | tuple[float, ...] = 0.4
    co2_price_per_kg: float = 0.0
    demand_charge_per_kw: float = 0.0
    coincident_demand_charge_per_kw: float = 0.0
    billing_period: str = "month"

    def __post_init__(self) -> None:
        _numbers(self)
        for key in ("price_buy_per_kwh", "price_sell_per_kwh", "grid_co2_kg_per_kwh"):
            object.__setattr__(self, key, _vector(getattr(self, key), key))
        _nonneg(self, "price_pv_per_kwh", "price_wind_per_kwh", "voll_per_kwh",
                "curtailment_cost_per_kwh", "co2_price_per_kg")
        _check(min(self.grid_co2_kg_per_kwh) >= 0, "grid_co2_kg_per_kwh", "values >= 0",
               self.grid_co2_kg_per_kwh)
        _check_prices(self.price_buy_per_kwh, self.price_sell_per_kwh, self.voll_per_kwh, "")
        _nonneg(self, "demand_charge_per_kw", "coincident_demand_charge_per_kw")
        _check(self.billing_period in BILLING_PERIODS, "billing_period",
               f"one of {BILLING_PERIODS}", self.billing_period)

    def per_step(self, key: str, steps: int) -> tuple[float, ...]:
        """The vector ``key`` with one value per step (a scalar is repeated)."""
        return _per_step(getattr(self, key), f"tariff.{key}", steps)

    @property
    def periods_per_year(self) -> int:
        """Billing periods in a year: 12 (``month``) or 1 (``year``)."""
        return 12 if self.billing_period == "month" else 1


def _per_step(values: tuple[float, ...], key: str, steps: int) -> tuple[float, ...]:
    """A price vector with one value per step (a scalar is repeated)."""
    if len(values) == 1:
        return values * steps
    if len(values) != steps:
        raise InputError(f"{key}: expected 1 or {steps} values (one per step of the day), "
                         f"got {len(values)}")
    return values


def _check_prices(buy: tuple[float, ...], sell: tuple[float, ...], voll: float,
                  prefix: str) -> None:
    """Feed-in at most the purchase price in every step (else buying to sell back makes the
    cost unbounded) and a value of lost load at least the highest purchase price; ``prefix``
    names the table of the prices in the error."""
    if len(buy) == len(sell) or 1 in (len(buy), len(sell)):
        steps = max(len(buy), len(sell))
        above = [t for t in range(steps) if sell[t % len(sell)] > buy[t % len(buy)]]
        _check(not above, f"{prefix}price_sell_per_kwh",
               f"at most {prefix}price_buy_per_kwh in every step (buying to sell back makes "
               f"the cost unbounded); it is higher at step(s) {above[:5]}", sell)
    _check(voll >= max(buy), "voll_per_kwh",
           f"at least the highest {prefix}price_buy_per_kwh ({max(buy)}): below it, shedding "
           "load is cheaper than buying the energy", voll)


@dataclass(frozen=True)
class Storage:
    """Storage technology, for individual batteries and the shared station alike.

    Attributes
    ----------
    capex_energy_per_kwh, capex_power_per_kw : float
        Investment per kWh of energy capacity and per kW of converter power.
    om_fraction_per_yr : float
        Fixed O&M per year as a fraction of the investment.
    lifetime_yr, discount_rate : float
        Annuity factor ``crf = r(1+r)^n / ((1+r)^n - 1)``, ``1/n`` at ``r = 0``.
        ``lifetime_yr`` is the calendar life; with ``cycle_life`` the cells' life is the
        shorter of it and the cycle life over the cycles a year (:mod:`framework.model.ageing`).
    cycle_life : float, optional
        Equivalent full cycles at depth ``cycle_life_dod`` until the cells' end of life:
        they deliver ``cycle_life * cycle_life_dod * E`` kWh of discharge. ``None``: the
        cells last ``lifetime_yr`` whatever the use.
    cycle_life_dod : float
        Depth of discharge of the ``cycle_life`` rating, a fraction of ``E`` in (0, 1].
    eta_charge, eta_discharge : float
        Efficiencies in (0, 1].
    soc_min_frac, soc_max_frac : float
        State-of-charge window as fractions of the energy capacity.
    self_discharge_per_h : float
        Fraction of the stored energy lost per hour.
    degradation_cost_per_kwh : float
        Cost per kWh of throughput (charge + discharge).
    energy_min_kwh, energy_max_kwh, power_max_kw : float, optional
        Bounds on the capacities of each storage.
    power_to_energy_min_per_h, power_to_energy_max_per_h : float, optional
        Bounds on ``P / E`` (1/h).
    module_energy_kwh, module_power_kw : float, optional
        Modular sizing: when both are set, each storage is built from a whole number of
        modules of this energy and power (an integer first stage, solved as a MILP).
    max_modules : int
        Most modules in one storage (modular sizing only).
    fixed_cost : float
        Investment per storage built, whatever its size (modular sizing only).
    """

    capex_energy_per_kwh: float = 300.0
    capex_power_per_kw: float = 150.0
    om_fraction_per_yr: float = 0.01
    lifetime_yr: float = 15.0
    discount_rate: float = 0.05
    cycle_life: float | None = None
    cycle_life_dod: float = 0.8
    eta_charge: float = 0.95
    eta_discharge: float = 0.95
    soc_min_frac: float = 0.1
    soc_max_frac: float = 0.9
    self_discharge_per_h: float = 0.0
    degradation_cost_per_kwh: float = 0.0
    energy_min_kwh: float | None = None
    energy_max_kwh: float | None = None
    power_max_kw: float | None = None
    power_to_energy_min_per_h: float | None = None
    power_to_energy_max_per_h: float | None = None
    module_energy_kwh: float | None = None
    module_power_kw: float | None = None
    max_modules: int = 100
    fixed_cost: float = 0.0

    def __post_init__(self) -> None:
        _numbers(self)
        _check((self.module_energy_kwh is None) == (self.module_power_kw is None),
               "module_power_kw", "set together with module_energy_kwh (modular sizing)",
               self.module_power_kw)
        _check(isinstance(self.max_modules, int) and self.max_modules >= 1, "max_modules",
               "an integer >= 1", self.max_modules)
        for key in ("module_energy_kwh", "module_power_kw"):
            value = getattr(self, key)
            _check(value is None or value > 0, key, "a number > 0", value)
        _nonneg(self, "fixed_cost")
        _nonneg(self, "capex_energy_per_kwh", "capex_power_per_kw", "om_fraction_per_yr",
                "discount_rate", "self_discharge_per_h", "degradation_cost_per_kwh",
                "energy_min_kwh", "energy_max_kwh", "power_max_kw",
                "power_to_energy_min_per_h", "power_to_energy_max_per_h")
        _check(isinstance(self.lifetime_yr, (int, float)) and self.lifetime_yr > 0,
               "lifetime_yr", "a number > 0", self.lifetime_yr)
        _check(self.cycle_life is None or self.cycle_life > 0, "cycle_life",
               "a number of equivalent full cycles > 0", self.cycle_life)
        _check(0 < self.cycle_life_dod <= 1, "cycle_life_dod", "a fraction in (0, 1]",
               self.cycle_life_dod)
        for key in ("eta_charge", "eta_discharge"):
            value = getattr(self, key)
            _check(isinstance(value, (int, float)) and 0 < value <= 1, key, "a value in (0, 1]",
                   value)
        for key in ("soc_min_frac", "soc_max_frac", "self_discharge_per_h"):
            value = getattr(self, key)
            _check(0 <= value <= 1, key, "a fraction in [0, 1]", value)
        _check(self.soc_min_frac < self.soc_max_frac, "soc_min_frac",
               f"less than soc_max_frac = {self.soc_max_frac}", self.soc_min_frac)
        if self.energy_min_kwh is not None and self.energy_max_kwh is not None:
            _check(self.energy_min_kwh <= self.energy_max_kwh, "energy_min_kwh",
                   f"at most energy_max_kwh = {self.energy_max_kwh}", self.energy_min_kwh)
        if (self.power_to_energy_min_per_h is not None
                and self.power_to_energy_max_per_h is not None):
            _check(self.power_to_energy_min_per_h <= self.power_to_energy_max_per_h,
                   "power_to_energy_min_per_h",
                   f"at most power_to_energy_max_per_h = {self.power_to_energy_max_per_h}",
                   self.power_to_energy_min_per_h)

    @property
    def modular(self) -> bool:
        """Whether storages are built from whole modules (integer first stage)."""
        return self.module_energy_kwh is not None

    @property
    def crf(self) -> float:
        """Capital recovery factor (1/yr) over the calendar life ``lifetime_yr``."""
        return self.crf_of(self.lifetime_yr)

    def crf_of(self, life_yr: float) -> float:
        """Capital recovery factor (1/yr) of an investment that lasts ``life_yr`` years."""
        r, n = self.discount_rate, life_yr
        if r == 0:
            return 1.0 / n
        return r * (1 + r) ** n / ((1 + r) ** n - 1)

    @property
    def annual_factor(self) -> float:
        """``crf + om_fraction_per_yr``: annual cost per unit of investment (1/yr)."""
        return self.crf + self.om_fraction_per_yr


@dataclass(frozen=True)
class Shared:
    """What differs for the shared station.

    Attributes
    ----------
    capex_multiplier : float
        Multiplies both capex rates of the station (economies of scale when below 1).
    exchange_fee_per_kwh : float
        Network-use fee per kWh metered at each microgrid's connection: on energy moved to
        and from the station, and on energy sent and received by direct (``p2p``) exchange.
    """

    capex_multiplier: float = 1.0
    exchange_fee_per_kwh: float = 0.0

    def __post_init__(self) -> None:
        _numbers(self)
        _nonneg(self, "capex_multiplier", "exchange_fee_per_kwh")


@dataclass(frozen=True)
class Planning:
    """How the planning problem is posed: the sharing architecture(s) and the year.

    Attributes
    ----------
    storage : {"none", "individual", "shared", "both"}
        Who owns storage: nobody, each microgrid its own battery, one shared station, or
        ``both`` (individual and shared side by side, the saving of sharing between them).
    station : {"accounts", "pooled"}
        How the shared station keeps energy: an energy account per microgrid (storage
        sharing only), or one pooled state of charge whose bus nets the microgrids' flows
        (storage sharing and energy exchange).
    exchange : {"none", "p2p"}
        Whether microgrids also trade energy directly, at the exchange fee.
    forbid_simultaneous : bool
        Forbid charging and discharging one storage (or account) in the same step exactly,
        with a binary per storage and step (the model becomes a MILP).
    days_per_year : float
        Annual operating cost = ``days_per_year * sum_s pi_s * daily_cost_s``.
    """

    storage: str = "both"
    station: str = "accounts"
    exchange: str = "none"
    forbid_simultaneous: bool = False
    days_per_year: float = 365.0

    def __post_init__(self) -> None:
        _numbers(self)
        _check(self.storage in STORAGE_CHOICES, "storage", f"one of {STORAGE_CHOICES}",
               self.storage)
        _check(self.station in STATIONS, "station", f"one of {STATIONS}", self.station)
        _check(self.exchange in EXCHANGES, "exchange", f"one of {EXCHANGES}", self.exchange)
        _check(isinstance(self.forbid_simultaneous, bool), "forbid_simultaneous",
               "true or false", self.forbid_simultaneous)
        _check(isinstance(self.days_per_year, (int, float)) and self.days_per_year > 0,
               "days_per_year", "a number > 0", self.days_per_year)

    @property
    def architectures(self) -> list[str]:
        """The architecture names these choices plan (``individual`` and ``accounts`` by
        default)."""
        return architectures(self.storage, self.station, self.exchange)

    @property
    def shared_architecture(self) -> str:
        """The shared station of these choices (``accounts`` by default, ``pooled``, with
        ``+p2p`` when microgrids also exchange): what coalitions and leases share."""
        return architectures("shared", self.station, self.exchange)[0]

    @property
    def individual_architecture(self) -> str:
        """Own batteries under these choices (``individual``, or ``individual+p2p``)."""
        return architectures("individual", self.station, self.exchange)[0]


@dataclass(frozen=True)
class System:
    """A complete system: the microgrids and everything the planning model needs."""

    microgrids: tuple[Microgrid, ...]
    name: str = "system"
    history: History = field(default_factory=History)
    tariff: Tariff = field(default_factory=Tariff)
    storage: Storage = field(default_factory=Storage)
    shared: Shared = field(default_factory=Shared)
    planning: Planning = field(default_factory=Planning)
    base_dir: str = "."

    def __post_init__(self) -> None:
        _check(len(self.microgrids) > 0, "microgrid", "at least one [[microgrid]]", [])
        names = [mg.name for mg in self.microgrids]
        dupes = sorted({n for n in names if names.count(n) > 1})
        _check(not dupes, "microgrid.name", "unique names", dupes)
        _check("station" not in names, "microgrid.name",
               "names other than 'station' (the shared station's name)", "station")
        for mg in self.microgrids:
            if mg.price_buy_per_kwh is not None or mg.price_sell_per_kwh is not None:
                buy, sell = self.prices(mg.name)
                _check_prices(buy, sell, self.tariff.voll_per_kwh,
                              f"microgrid {mg.name!r}: ")

    def prices(self, name: str, steps: int | None = None
               ) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Microgrid ``name``'s purchase and feed-in prices (its own, else the tariff's),
        with one value per step when ``steps`` is given."""
        mg = next(mg for mg in self.microgrids if mg.name == name)
        pairs = [(getattr(mg, key), key) for key in ("price_buy_per_kwh", "price_sell_per_kwh")]
        out = [(own, f"microgrid {name!r}: {key}") if own is not None
               else (getattr(self.tariff, key), f"tariff.{key}") for own, key in pairs]
        if steps is None:
            return out[0][0], out[1][0]
        return _per_step(*out[0], steps), _per_step(*out[1], steps)

    def demand_charge(self, name: str) -> float:
        """Microgrid ``name``'s price per kW of its billing-period peak import."""
        mg = next(mg for mg in self.microgrids if mg.name == name)
        return (self.tariff.demand_charge_per_kw if mg.demand_charge_per_kw is None
                else mg.demand_charge_per_kw)

    @property
    def has_demand_charges(self) -> bool:
        """Whether any peak of a billing period is priced."""
        return (self.tariff.coincident_demand_charge_per_kw > 0
                or any(self.demand_charge(name) > 0 for name in self.names))

    @property
    def names(self) -> list[str]:
        return [mg.name for mg in self.microgrids]

    def resolve(self, path: str) -> Path:
        """A path from the system file, relative to the file's folder."""
        p = Path(path)
        return p if p.is_absolute() else Path(self.base_dir) / p


_SECTIONS = {"history": History, "tariff": Tariff, "storage": Storage, "shared": Shared,
             "planning": Planning}


def _make(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: expected a table, got {data!r}")
    valid = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown}; valid keys: {valid}")
    try:
        return cls(**data)
    except InputError as err:
        raise InputError(f"{where}.{err}") from None
    except TypeError as err:  # a required key is missing
        raise InputError(f"{where}: {err}") from None


def system_from_dict(data: Mapping[str, Any], where: str = "system",
                     base_dir: str | Path = ".") -> System:
    """Build a validated :class:`System` from a (TOML-shaped) mapping.

    Parameters
    ----------
    data : mapping
        Top-level keys ``name``, ``microgrid`` (list of tables) and the sections
        ``history``, ``tariff``, ``storage``, ``shared``, ``planning``.
    where : str
        Prefix for error messages (the file name).
    base_dir : path
        Folder that relative paths in ``[history]`` are resolved against.
    """
    valid = ["name", "microgrid", *_SECTIONS]
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown}; valid keys: {valid}")
    raw_mgs = data.get("microgrid", [])
    if not isinstance(raw_mgs, list) or not raw_mgs:
        raise InputError(f"{where}: expected at least one [[microgrid]] table")
    microgrids = tuple(
        _make(Microgrid, mg, f"{where}: microgrid[{k}]") for k, mg in enumerate(raw_mgs)
    )
    sections = {key: _make(cls, data.get(key, {}), f"{where}: {key}")
                for key, cls in _SECTIONS.items()}
    try:
        return System(microgrids=microgrids, name=str(data.get("name", "system")),
                      base_dir=str(base_dir), **sections)
    except InputError as err:
        raise InputError(f"{where}: {err}") from None


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """Read a TOML file (``what``: "system", "study"); every way it can fail is one
    :class:`~framework.errors.InputError` naming the file: missing, a directory, unreadable,
    not UTF-8 text (a binary file), or not valid TOML."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(f"{path}: {what} file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory; expected a {what} TOML file") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file (expected a {what} TOML file in UTF-8)"
                         ) from None
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{path}: not valid TOML: {err}") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read the {what} file: {err.strerror}") from None


def load_system(path: str | Path) -> System:
    """Read and validate a system TOML file; errors name the file and the key."""
    path = Path(path)
    data = read_toml(path, "system")
    return system_from_dict(data, where=str(path), base_dir=path.parent)


def default_system_path() -> Path:
    """The default system shipped with the package (four microgrids on SimBench profiles)."""
    return Path(__file__).parent / "data" / "default_system.toml"


def default_system() -> System:
    """The default system (see :func:`default_system_path`)."""
    return load_system(default_system_path())


def system_to_dict(system: System) -> dict[str, Any]:
    """The configuration as a TOML-shaped dict (``None`` values left out), for provenance."""

    def clean(d: Mapping[str, Any]) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()
                if v is not None}

    out: dict[str, Any] = {"name": system.name,
                           "microgrid": [clean(asdict(mg)) for mg in system.microgrids]}
    for key in _SECTIONS:
        out[key] = clean(asdict(getattr(system, key)))
    return out


#: The keys of a ``[[microgrid]]`` table that shape its scenario profiles (with
#: ``[history]``); the others (limits, prices, storage, planning) may differ between the
#: system that made a scenario file and the one that plans on it.
PROFILE_KEYS = ("name", "peak_load_kw", "load_profile", "pv_kw", "pv_profile", "wind_kw",
                "wind_profile", "columns")


def profile_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a configuration (:func:`system_to_dict`) that shapes the profiles."""
    return {"history": dict(config.get("history", {})),
            "microgrid": [{k: mg[k] for k in PROFILE_KEYS if k in mg}
                          for mg in config.get("microgrid", [])]}


def profile_hash(system: System) -> str:
    """SHA-256 of :func:`profile_config` of the system, as stored in scenario files."""
    text = json.dumps(profile_config(system_to_dict(system)), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def scenario_attrs(system: System) -> dict[str, str]:
    """Attributes that make a scenario file know the system it was made for: its whole
    configuration (``system_config``, JSON) and :func:`profile_hash` (``system_hash``)."""
    return {"system_config": json.dumps(system_to_dict(system), sort_keys=True),
            "system_hash": profile_hash(system)}


def profile_differences(system: System, stored: Mapping[str, Any]) -> list[str]:
    """Where ``system`` differs from a stored configuration in what shapes the profiles, as
    ``key: stored -> given`` lines (empty when the scenarios fit the system)."""
    mine, theirs = profile_config(system_to_dict(system)), profile_config(stored)
    out = [f"history.{k}: {theirs['history'].get(k)!r} -> {mine['history'].get(k)!r}"
           for k in sorted(set(mine["history"]) | set(theirs["history"]))
           if mine["history"].get(k) != theirs["history"].get(k)]
    given = {mg["name"]: mg for mg in mine["microgrid"]}
    for mg in theirs["microgrid"]:
        other = given.get(mg["name"])
        if other is None:
            continue  # a coalition or a subset: check_scenarios_match names missing ones
        out += [f"microgrid {mg['name']!r}.{k}: {mg.get(k)!r} -> {other.get(k)!r}"
                for k in PROFILE_KEYS if mg.get(k) != other.get(k)]
    return out


def stored_system(attrs: Mapping[str, Any], where: str) -> System | None:
    """The system a scenario file was made for (its ``system_config``), or ``None``."""
    if "system_config" not in attrs:
        return None
    try:
        data = json.loads(attrs["system_config"])
    except (TypeError, ValueError):
        raise InputError(f"{where}: attribute 'system_config': expected the JSON of a "
                         "system") from None
    return system_from_dict(data, where=f"{where}: system_config")


def why_unbounded(system: System) -> str:
    """The likely cause of an unbounded plan, in words: a negative buy price in a step where
    a microgrid can import without limit pays for every kWh bought, and storage losses (or
    simultaneous charge and discharge) can burn what is bought."""
    negative = [t for t, p in enumerate(system.tariff.price_buy_per_kwh) if p < 0]
    unlimited = [mg.name for mg in system.microgrids if mg.import_limit_kw is None]
    if negative and unlimited:
        return (f"tariff.price_buy_per_kwh is negative at step(s) {negative[:5]}, where "
                f"{unlimited} import without limit: every kWh bought pays and storage losses "
                "can burn it (set import_limit_kw, or prices >= 0)")
    return ("no cause found in the data (prices, limits); please report it with the system "
            "file")
