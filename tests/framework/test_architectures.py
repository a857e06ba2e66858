"""Sharing architectures on tiny systems whose optimum is computed by hand.

The conventions of ``test_model.py`` hold (its helpers are imported): ``days_per_year = 1``
unless a test sets it, a unit annuity, capacity at 0.01 per kWh and 0.001 per kW, a lossless
storage with the full state-of-charge window unless a test says otherwise, no feed-in
price, and every solve checked against the evaluation of its own plan. The fee is the
network fee ``exchange_fee_per_kwh``, metered at each microgrid's connection to the station
and on p2p flows (``docs/formulation.md``, "Sharing architectures").
"""

from __future__ import annotations

from typing import Any

import pyomo.environ as pyo
import pytest
from pyomo.repn import generate_standard_repn

from framework.architecture import ARCHITECTURES, architecture
from framework.errors import InputError
from framework.model import build_extensive_model, scenario_data
from framework.solve.ef import solve_ef
from framework.solve.highs import SecondObjective, solve_highs
from framework.system import Planning, system_from_dict
from tests.framework.conftest import make_scenarios, make_system
from tests.framework.test_model import approx, cap, flow, one_day, solve, storage, tariff, term

FEE = 0.01
LOSSY = {"eta_charge": 0.9, "eta_discharge": 0.9}


def value(ds: Any, name: str, **sel: Any) -> float:
    return float(ds[name].sel(**sel)) if sel else float(ds[name])


def built(ds: Any) -> float:
    """Total energy and power capacity of every storage of a result."""
    return float(ds["cap_energy_kwh"].sum() + ds["cap_power_kw"].sum())


# --- a surplus and a deficit in the same step ---------------------------------------------

# mg0 has 10 kW of PV it may not export, mg1 a load of 10 kW, in the same (only) step; the
# grid sells at 0.5. The storage loses 10 % each way and wears at 0.05 per kWh of throughput,
# so anything that passes through cells would pay for it.
SAME_STEP = [{"name": "mg0", "pv_kw": 10.0, "export_limit_kw": 0.0}, {"name": "mg1"}]
SAME_STEP_DAY = {"load_kw": one_day([0.0], [10.0]), "pv_pu": one_day([1.0], [0.0])}


def same_step_system(mg0: dict | None = None) -> Any:
    return make_system([{**SAME_STEP[0], **(mg0 or {})}, SAME_STEP[1]], tariff=tariff(0.5),
                       storage=storage(**LOSSY, degradation_cost_per_kwh=0.05),
                       shared={"exchange_fee_per_kwh": FEE})


@pytest.mark.parametrize("mode", ARCHITECTURES)
def test_a_surplus_moves_within_one_step_only_by_exchange(mode: str) -> None:
    """Without exchange (none, individual, accounts: an account's energy stays its own)
    mg0 curtails and mg1 buys 10 kWh at 0.5 = 5.0. With p2p, or through a pooled station's
    bus, the 10 kWh reach mg1 for the fee at both connections, ``0.01 * 2 * 10 = 0.2``;
    the bus nets the two flows, so the cells see nothing: no loss, no wear, E = P = 0.
    ``individual+p2p``, ``accounts+p2p`` and ``pooled+p2p`` equal p2p here."""
    arch = architecture(mode)
    ds = solve(same_step_system(), make_scenarios(**SAME_STEP_DAY), mode)
    assert built(ds) == approx(0.0)
    assert term(ds, "degradation") == approx(0.0)
    if not arch.moves_energy:
        assert value(ds, "objective") == approx(0.5 * 10)
        assert value(ds, "exchanged_kwh_per_yr") == approx(0.0)
        assert flow(ds, "curtailed_kw") == [approx(10.0)]
        return
    assert value(ds, "objective") == approx(FEE * 2 * 10)
    assert term(ds, "fees") == approx(FEE * 2 * 10)
    assert flow(ds, "grid_import_kw", "mg1") == [approx(0.0)]
    # the least exchange that does it: 10 kWh, once, whatever the channel
    assert value(ds, "exchanged_kwh_per_yr") == approx(10.0)
    assert value(ds, "exchanged_kwh_per_yr") == approx(
        value(ds, "exchange_station_kwh_per_yr") + value(ds, "exchange_p2p_kwh_per_yr"))
    if mode == "pooled":
        assert value(ds, "exchange_station_kwh_per_yr") == approx(10.0)
        assert flow(ds, "charge_kw", "mg0") == [approx(10.0)]
        assert flow(ds, "discharge_kw", "mg1") == [approx(10.0)]
        assert value(ds, "cell_charge_kw", scenario=0, step=0, storage="station") == approx(0)
        assert value(ds, "cell_discharge_kw", scenario=0, step=0,
                     storage="station") == approx(0)
    elif mode != "pooled+p2p":  # pooled+p2p: either channel
        assert value(ds, "exchange_p2p_kwh_per_yr") == approx(10.0)
        assert flow(ds, "p2p_out_kw", "mg0") == [approx(10.0)]
        assert flow(ds, "p2p_in_kw", "mg1") == [approx(10.0)]


def test_a_pooled_station_with_nothing_built_is_a_relay() -> None:
    """The pooled station above moves 10 kWh with E = 0: usable energy 0 < RELAY_HOURS (1 h)
    times its peak connection flow of 10 kW, so it is flagged; accounts (nothing moves) and
    p2p (no station) are not."""
    system, scenarios = same_step_system(), make_scenarios(**SAME_STEP_DAY)
    pooled = solve(system, scenarios, "pooled")
    assert bool(pooled["relay"].sel(storage="station"))
    lines = str(pooled["warnings"].values).splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("station is a relay (nothing built")
    assert "peak flow 10.0 kW" in lines[0]
    assert "10.0 kWh/yr passing its bus" in lines[0]
    accounts = solve(system, scenarios, "accounts")
    assert not bool(accounts["relay"].sel(storage="station"))
    assert str(accounts["warnings"].values) == ""


@pytest.mark.parametrize("mode", ["accounts", "pooled"])
def test_a_station_that_only_stores_is_not_a_relay(mode: str) -> None:
    """One microgrid, two steps of 15 min at 0.1 and 0.5: it stores 10 kW * 0.25 h =
    2.5 kWh (E = 2.5, P = 10, ``0.1 * 2.5 + 0.01 * 2.5 + 0.001 * 10``). Its usable energy
    covers 15 min of its peak flow, but nothing passes from one microgrid to another."""
    system = make_system([{"name": "mg0"}], step_h=0.25, tariff=tariff([0.1, 0.5]),
                         storage=storage())
    ds = solve(system, make_scenarios(one_day([0.0, 10.0]), step_h=0.25), mode)
    assert value(ds, "objective") == approx(0.1 * 2.5 + 0.01 * 2.5 + 0.001 * 10)
    assert cap(ds, "station") == (approx(2.5), approx(10.0))
    assert value(ds, "exchanged_kwh_per_yr") == approx(0.0)
    assert not bool(ds["relay"].sel(storage="station"))
    assert str(ds["warnings"].values) == ""


@pytest.mark.parametrize("mode", ["p2p", "pooled+p2p"])
def test_p2p_limit_kw(mode: str) -> None:
    """mg0 may send at most 4 kW directly: p2p moves 4 and mg1 buys 6,
    ``0.5 * 6 + 0.01 * 2 * 4 = 3.08``; with a pooled station beside it the other 6 kWh pass
    the bus at the same fee, 0.2 in all. The export limit 0 does not bound p2p."""
    ds = solve(same_step_system({"p2p_limit_kw": 4.0}), make_scenarios(**SAME_STEP_DAY), mode)
    if mode == "p2p":
        assert value(ds, "objective") == approx(0.5 * 6 + FEE * 2 * 4)
        assert flow(ds, "p2p_out_kw", "mg0") == [approx(4.0)]
        assert flow(ds, "grid_import_kw", "mg1") == [approx(6.0)]
    else:
        assert value(ds, "objective") == approx(FEE * 2 * 10)
        assert flow(ds, "p2p_out_kw", "mg0")[0] <= 4.0 + 1e-6
        assert value(ds, "exchanged_kwh_per_yr") == approx(10.0)


def test_station_limit_kw_binds_the_exchange_through_a_pooled_bus() -> None:
    """mg0's connection to the station carries at most 4 kW: pooled moves 4,
    ``0.5 * 6 + 0.01 * 2 * 4 = 3.08``; pooled+p2p moves the rest directly, 0.2. This is
    where pooled+p2p beats pooled: the station connections bind."""
    system, scenarios = same_step_system({"station_limit_kw": 4.0}), make_scenarios(
        **SAME_STEP_DAY)
    pooled = solve(system, scenarios, "pooled")
    assert value(pooled, "objective") == approx(0.5 * 6 + FEE * 2 * 4)
    assert flow(pooled, "charge_kw", "mg0") == [approx(4.0)]
    assert value(pooled, "exchange_station_kwh_per_yr") == approx(4.0)
    both = solve(system, scenarios, "pooled+p2p")
    assert value(both, "objective") == approx(FEE * 2 * 10)
    assert flow(both, "charge_kw", "mg0")[0] <= 4.0 + 1e-6


@pytest.mark.parametrize("mode", ["p2p", "pooled", "pooled+p2p"])
def test_least_exchange_at_zero_fee_has_no_circular_flows(mode: str) -> None:
    """At fee 0 any circular flow is free; the result reports the least exchange an optimum
    needs: mg0's 10 kWh of surplus to mg1 (6) and mg2 (4), nothing more, metered once out
    and once in (20 kWh at the connections)."""
    system = make_system([{"name": "mg0", "pv_kw": 10.0, "export_limit_kw": 0.0},
                          {"name": "mg1"}, {"name": "mg2"}], tariff=tariff(0.5),
                         storage=storage())
    ds = solve(system, make_scenarios(one_day([0.0], [6.0], [4.0]),
                                      pv_pu=one_day([1.0], [0.0], [0.0])), mode)
    assert value(ds, "objective") == approx(0.0)
    assert value(ds, "exchanged_kwh_per_yr") == approx(10.0)
    metered = sum(float(ds[name].sum()) for name in (
        "charge_kw", "discharge_kw", "p2p_in_kw", "p2p_out_kw"))
    assert metered == approx(2 * 10.0)
    assert flow(ds, "p2p_in_kw", "mg0") == [approx(0.0)]
    assert flow(ds, "discharge_kw", "mg0") == [approx(0.0)]
    assert not bool(ds["least_exchange_s"].isnull())


@pytest.mark.parametrize("least", ["x", "y"])
def test_the_second_objective_picks_among_the_optima(least: str) -> None:
    """``min x + y`` s.t. ``x + y >= 10`` has every split of 10 as an optimum; the second
    objective, with the first held at 10, picks the one with the least of the variable named
    (asked both ways, so HiGHS's first pick cannot make it pass by chance)."""
    m = pyo.ConcreteModel()
    m.x, m.y = pyo.Var(bounds=(0, 8)), pyo.Var(bounds=(0, 8))
    m.need = pyo.Constraint(expr=m.x + m.y >= 10)
    m.objective = pyo.Objective(expr=m.x + m.y + 1.0)
    info = solve_highs(m, second=SecondObjective(minimise=[getattr(m, least)], fix=[]))
    assert info.objective == approx(11.0) and info.second_s is not None
    assert pyo.value(getattr(m, least)) == approx(2.0)
    assert pyo.value(m.x + m.y) == approx(10.0)


def test_the_second_objective_keeps_the_first_stage() -> None:
    """Every split of 10 is an optimum; with one variable fixed at its first value, the
    second objective cannot lower the other (unfixed, it would move both to a bound)."""
    m = pyo.ConcreteModel()
    m.x, m.y = pyo.Var(bounds=(0, 8)), pyo.Var(bounds=(0, 8))
    m.need = pyo.Constraint(expr=m.x + m.y >= 10)
    m.objective = pyo.Objective(expr=m.x + m.y)
    solve_highs(m)
    first = {"x": pyo.value(m.x), "y": pyo.value(m.y)}
    keep, free = ("y", "x") if first["y"] < 8 - 1e-6 else ("x", "y")
    solve_highs(m, second=SecondObjective(minimise=[getattr(m, free)], fix=[getattr(m, keep)]))
    assert pyo.value(getattr(m, keep)) == approx(first[keep])
    assert pyo.value(getattr(m, free)) == approx(first[free])
    assert first[free] > 2.0 + 1e-6   # unfixed, the second objective would give 2


# --- storage: accounts and a pooled state of charge ---------------------------------------


@pytest.mark.parametrize("mode", ["accounts", "pooled"])
def test_storage_for_each_microgrid_itself(mode: str) -> None:
    """mg0 needs 9 kWh and mg1 18 kWh at t1 (0.5); both charge at t0 (0.1); 10 % losses each
    way, window 20 %..80 %, fee 0.01, wear 0.01 per kWh.

    Each account holds ``9 / 0.9 = 10`` and ``18 / 0.9 = 20`` kWh, charged with
    ``10 / 0.9`` and ``20 / 0.9`` kW; the accounts together fit in
    ``(0.8 - 0.2) * E``: E = 30 / 0.6 = 50; the power limit is on the sum of the charges:
    P = 30 / 0.9. The fee and the wear each take ``0.01 * (30 / 0.9 + 27)``. A pooled
    station does the same (nothing to net: both charge at t0, both discharge at t1), its
    cells see the sums, charging 30 / 0.9 and discharging 27.
    """
    system = make_system([{"name": "mg0"}, {"name": "mg1"}], tariff=tariff([0.1, 0.5]),
                         storage=storage(**LOSSY, soc_min_frac=0.2, soc_max_frac=0.8,
                                         degradation_cost_per_kwh=0.01),
                         shared={"exchange_fee_per_kwh": FEE})
    ds = solve(system, make_scenarios(one_day([0.0, 9.0], [0.0, 18.0])), mode)
    charged = 30 / 0.9
    assert value(ds, "objective") == approx(0.1 * charged + 0.01 * 50 + 0.001 * charged
                                            + (FEE + 0.01) * (charged + 27))
    assert term(ds, "fees") == approx(FEE * (charged + 27))
    assert term(ds, "degradation") == approx(0.01 * (charged + 27))
    assert cap(ds, "station") == (approx(50.0), approx(charged))
    assert flow(ds, "discharge_kw", "mg0") == [approx(0.0), approx(9.0)]
    assert flow(ds, "discharge_kw", "mg1") == [approx(0.0), approx(18.0)]
    assert [float(v) for v in ds["cell_charge_kw"].sel(scenario=0, storage="station")] == [
        approx(charged), approx(0.0)]
    assert [float(v) for v in ds["cell_discharge_kw"].sel(scenario=0, storage="station")] == [
        approx(0.0), approx(27.0)]
    assert [float(v) for v in ds["soc_kwh"].sel(scenario=0, storage="station")] == [
        approx(0.2 * 50 + 30), approx(0.2 * 50)]
    if mode == "accounts":  # each account is filled by its own microgrid
        assert flow(ds, "charge_kw", "mg0") == [approx(10 / 0.9), approx(0.0)]
        assert flow(ds, "charge_kw", "mg1") == [approx(20 / 0.9), approx(0.0)]
        assert [float(v) for v in ds["account_kwh"].sel(scenario=0, microgrid="mg0")] == [
            approx(10.0), approx(0.0)]
        assert [float(v) for v in ds["account_kwh"].sel(scenario=0, microgrid="mg1")] == [
            approx(20.0), approx(0.0)]
    else:  # pooled energy is one: who buys the 30 / 0.9 kWh at t0 is arbitrary
        assert float(ds["charge_kw"].sel(scenario=0, step=0).sum()) == approx(charged)
        assert "account_kwh" not in ds
    # 27 kWh out of the cells over a usable 0.6 * 50 kWh; nothing exchanged
    assert value(ds, "equivalent_full_cycles_per_yr", storage="station") == approx(27 / 30)
    assert value(ds, "exchanged_kwh_per_yr") == approx(0.0)
    assert not bool(ds["relay"].sel(storage="station"))


# mg0's PV surplus of 10 at t0 (no export) against mg1's load of 10 at t1 (0.5 flat); 10 %
# losses each way, wear 0.01 per kWh. Storing the 10 kWh delivers 10 * 0.81 = 8.1 at t1 and
# mg1 buys 1.9. Common to every architecture that does it: 0.5 * 1.9, wear 0.01 * (10 + 8.1),
# E = 9 (the 10 kWh charged, after charging losses) at 0.01, P = 10 at 0.001.
STORED = 0.5 * 1.9 + 0.01 * (10 + 8.1) + 0.01 * 9 + 0.001 * 10


@pytest.mark.parametrize("mode, fees", [
    ("none", None), ("p2p", None), ("individual", None), ("accounts", None),
    ("pooled", 10 + 8.1),                 # in at mg0, out at mg1
    ("pooled+p2p", 10 + 8.1),             # as pooled: nothing cheaper by p2p
    ("individual+p2p", 8.1 + 8.1),        # own battery at mg0 (no fee), then p2p out and in
    ("accounts+p2p", 10 + 8.1 + 8.1 + 8.1),  # mg0's account in and out, then p2p out and in
])
def test_energy_stored_for_another_microgrid(mode: str, fees: float | None) -> None:
    """Storing across steps for another microgrid: the pooled station meters the energy
    twice, accounts + p2p four times, an own battery + p2p twice (after the losses).
    Without a way to store *and* move it (``fees = None``) mg1 buys 10 kWh at 0.5."""
    system = make_system([{"name": "mg0", "pv_kw": 10.0, "export_limit_kw": 0.0},
                          {"name": "mg1"}], tariff=tariff(0.5),
                         storage=storage(**LOSSY, degradation_cost_per_kwh=0.01),
                         shared={"exchange_fee_per_kwh": FEE})
    ds = solve(system, make_scenarios(one_day([0.0, 0.0], [0.0, 10.0]),
                                      pv_pu=one_day([1.0, 0.0], [0.0, 0.0])), mode)
    if fees is None:
        assert value(ds, "objective") == approx(0.5 * 10)
        assert built(ds) == approx(0.0)
        return
    assert value(ds, "objective") == approx(STORED + FEE * fees)
    assert term(ds, "fees") == approx(FEE * fees)
    assert flow(ds, "grid_import_kw", "mg1") == [approx(0.0), approx(1.9)]
    if architecture(mode).pooled:
        assert cap(ds, "station") == (approx(9.0), approx(10.0))
        assert flow(ds, "charge_kw", "mg0") == [approx(10.0), approx(0.0)]
        assert flow(ds, "discharge_kw", "mg1") == [approx(0.0), approx(8.1)]
        # the station's exchange counts flows that meet at the bus in one step: none here
        assert value(ds, "exchange_station_kwh_per_yr") == approx(0.0)
        assert value(ds, "equivalent_full_cycles_per_yr", storage="station") == approx(8.1 / 9)
    else:  # the energy reaches mg1 by p2p at t1
        assert flow(ds, "p2p_in_kw", "mg1") == [approx(0.0), approx(8.1)]
        assert value(ds, "exchange_p2p_kwh_per_yr") == approx(8.1)


def test_diagnostics_are_annual_and_count_the_cells() -> None:
    """Two scenarios (pi = 0.25, 0.75; the second has nothing to do), 8 days a year: a figure
    of the first day counts ``8 * 0.25 = 2`` times a year.

    Day 0: mg0 has a surplus of 10 at t0 (no export), mg1 needs 4 at t0 and 3 at t1 and t2.
    A pooled station takes 10 in at mg0 and gives 4 to mg1 in the same step (the bus nets
    them: exchange 4 kWh, 8 kWh/yr), its cells store the other 6 (E = 6, P = 6) and give
    3 + 3: 6 kWh out of the cells over a usable 6 kWh, 2 cycles/yr (at the microgrids'
    connections 10 kWh leave the station: the cycles are counted at the cells). The fee
    meters 10 + 4 + 3 + 3 = 20 kWh a day: ``0.01 * 20 * 2 = 0.4`` a year.
    """
    system = make_system([{"name": "mg0", "pv_kw": 10.0, "export_limit_kw": 0.0},
                          {"name": "mg1"}], tariff=tariff(0.5), storage=storage(),
                         shared={"exchange_fee_per_kwh": FEE}, planning={"days_per_year": 8.0})
    load = [[[0.0, 4.0], [0.0, 3.0], [0.0, 3.0]], [[0.0, 0.0]] * 3]
    pv = [[[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]], [[0.0, 0.0]] * 3]
    scenarios = make_scenarios(load, pv_pu=pv, probability=[0.25, 0.75])
    for mode in ("pooled", "pooled+p2p"):
        ds = solve(system, scenarios, mode)
        assert value(ds, "objective") == approx(0.01 * 6 + 0.001 * 6 + FEE * 20 * 2)
        assert cap(ds, "station") == (approx(6.0), approx(6.0))
        # the split between the bus and p2p is arbitrary in pooled+p2p, the total is not
        assert value(ds, "exchanged_kwh_per_yr") == approx(4 * 2)
        assert value(ds, "exchanged_kwh_per_yr") == approx(
            value(ds, "exchange_station_kwh_per_yr") + value(ds, "exchange_p2p_kwh_per_yr"))
        assert value(ds, "equivalent_full_cycles_per_yr", storage="station") == approx(2.0)
        assert value(ds, "simultaneous_hours_per_yr", storage="station") == approx(0.0)
        assert value(ds, "simultaneous_kwh_per_yr", storage="station") == approx(0.0)
        assert not bool(ds["relay"].sel(storage="station"))
        assert str(ds["warnings"].values) == ""
    pooled = solve(system, scenarios, "pooled")
    assert value(pooled, "exchange_station_kwh_per_yr") == approx(8.0)
    assert value(pooled, "exchange_p2p_kwh_per_yr") == approx(0.0)
    for name, unit in (("exchanged_kwh_per_yr", "kWh/yr"),
                       ("equivalent_full_cycles_per_yr", "1/yr"),
                       ("simultaneous_hours_per_yr", "h/yr")):
        assert pooled[name].attrs["units"] == unit


# --- simultaneous charge and discharge ----------------------------------------------------

# One step (a cyclic day of 1 h): mg0's PV gives 10 kW, there is no load, no export and no
# import; curtailment costs 0.1 per kWh. A storage of fixed 10 kWh / 10 kW (0.11 a year)
# with 50 % efficiency each way can burn the surplus: charging c and discharging d at once
# with an unchanged state of charge, 0.5 c = d / 0.5, takes c - d = 0.75 c from the PV;
# c = P = 10 burns 7.5 kWh and curtails 2.5 (0.25). Forbidding it, the storage charges or
# discharges, and over a cyclic day of one step it does neither: 10 kWh are curtailed
# (1.0), 0.1 * 7.5 = 0.75 more.
BURN = {"name": "mg0", "pv_kw": 10.0, "export_limit_kw": 0.0, "import_limit_kw": 0.0}
HALF = {"eta_charge": 0.5, "eta_discharge": 0.5}


def burn_system(forbid: bool, mg0: dict | None = None, **tech: Any) -> Any:
    return make_system([{**BURN, **(mg0 or {})}],
                       tariff=tariff(0.3, curtailment_cost_per_kwh=0.1),
                       storage=storage(**HALF, **tech),
                       planning={"forbid_simultaneous": forbid})


@pytest.mark.parametrize("mode", ["individual", "accounts", "pooled"])
def test_simultaneous_charge_and_discharge_burns_a_surplus(mode: str) -> None:
    name = "mg0" if mode == "individual" else "station"
    plan = {"cap_energy_kwh": {name: 10.0}, "cap_power_kw": {name: 10.0}}
    scenarios = make_scenarios(one_day([0.0]), pv_pu=one_day([1.0]))
    free = solve(burn_system(False), scenarios, mode, fixed_capacity=plan)
    capex = 0.01 * 10 + 0.001 * 10
    assert value(free, "objective") == approx(capex + 0.1 * 2.5)
    assert flow(free, "curtailed_kw") == [approx(2.5)]
    assert value(free, "cell_charge_kw", scenario=0, step=0, storage=name) == approx(10.0)
    assert value(free, "cell_discharge_kw", scenario=0, step=0, storage=name) == approx(2.5)
    assert value(free, "simultaneous_hours_per_yr", storage=name) == approx(1.0)
    assert value(free, "simultaneous_kwh_per_yr", storage=name) == approx(2.5)
    assert f"{name} charges and discharges at once in 1 h/yr" in str(free["warnings"].values)
    if mode == "pooled":  # the bus nets it: the connection sees only the 7.5 kWh burnt
        assert flow(free, "charge_kw") == [approx(7.5)]
        assert flow(free, "discharge_kw") == [approx(0.0)]

    forbidden = solve(burn_system(True), scenarios, mode, fixed_capacity=plan)
    assert value(forbidden, "objective") == approx(capex + 0.1 * 10)
    assert value(forbidden, "objective") - value(free, "objective") == approx(0.1 * 7.5)
    assert value(forbidden, "simultaneous_hours_per_yr", storage=name) == approx(0.0)
    assert "at once" not in str(forbidden["warnings"].values)


def test_forbid_simultaneous_is_a_milp_with_an_exact_big_m() -> None:
    """With ``forbid_simultaneous`` each pair of flows gets a binary and the bound
    ``M = max(sum_i (pv + wind + import_limit), sum_i (load + export_limit))`` = 10 kW here,
    or ``storage.power_max_kw`` where it is set."""
    scenarios = make_scenarios(one_day([0.0]), pv_pu=one_day([1.0]))
    data = [scenario_data(scenarios, 0)]
    for tech, big_m in (({}, 10.0), ({"power_max_kw": 3.0}, 3.0)):
        model = build_extensive_model(burn_system(True, **tech), data, "pooled")
        d = model.scenario[0]
        assert d.charging["station", 0].is_binary()
        for con, sign in ((d.only_charge, -1.0), (d.only_discharge, 1.0)):
            repn = generate_standard_repn(con["station", 0].body)
            coefficients = dict(zip([v.name for v in repn.linear_vars], repn.linear_coefs))
            assert coefficients[d.charging["station", 0].name] == approx(sign * big_m)
    assert not hasattr(build_extensive_model(burn_system(False), data, "pooled").scenario[0],
                       "charging")


def test_forbid_simultaneous_without_a_big_m_is_a_clear_error() -> None:
    """No ``storage.power_max_kw`` and a microgrid without an import limit: no bound on the
    storage flows, so the binaries would have no big-M; the error names the setting."""
    system = burn_system(True, {"import_limit_kw": None})
    with pytest.raises(InputError, match="planning.forbid_simultaneous.*power_max_kw"):
        solve_ef(system, make_scenarios(one_day([0.0]), pv_pu=one_day([1.0])), "individual")


# --- the system's planning choices --------------------------------------------------------


@pytest.mark.parametrize("choices, names, shared, individual", [
    ({}, ["individual", "accounts"], "accounts", "individual"),
    ({"storage": "both", "station": "pooled", "exchange": "p2p"},
     ["individual+p2p", "pooled+p2p"], "pooled+p2p", "individual+p2p"),
    ({"storage": "shared", "station": "pooled"}, ["pooled"], "pooled", "individual"),
    ({"storage": "individual", "exchange": "p2p"}, ["individual+p2p"], "accounts+p2p",
     "individual+p2p"),
    ({"storage": "none", "exchange": "p2p"}, ["p2p"], "accounts+p2p", "individual+p2p"),
    ({"storage": "none"}, ["none"], "accounts", "individual"),
])
def test_planning_choices_name_the_architectures(choices: dict, names: list[str],
                                                 shared: str, individual: str) -> None:
    planning = Planning(**choices)
    assert planning.architectures == names
    assert planning.shared_architecture == shared
    assert planning.individual_architecture == individual


@pytest.mark.parametrize("key, bad", [("storage", "pool"), ("station", "shared"),
                                      ("exchange", "yes"), ("forbid_simultaneous", "yes")])
def test_bad_planning_choices_name_the_key(key: str, bad: str) -> None:
    with pytest.raises(InputError, match=f"^{key}: expected"):
        Planning(**{key: bad})
    with pytest.raises(InputError, match=f"planning.{key}: expected"):
        system_from_dict({"microgrid": [{"name": "mg0"}], "planning": {key: bad}})


def test_the_old_mode_key_and_name_are_gone() -> None:
    with pytest.raises(InputError, match=r"unknown key\(s\) \['mode'\]"):
        system_from_dict({"microgrid": [{"name": "mg0"}], "planning": {"mode": "shared"}})
    with pytest.raises(InputError, match="architecture: expected one of"):
        architecture("shared")
    assert [architecture(name).name for name in ARCHITECTURES] == list(ARCHITECTURES)


@pytest.mark.parametrize("limit, line", [
    (8.0, "load is shed: 2.0 kWh/yr (20.00% of the load)"),
    (4.0, "most load is shed (60%): the grid connection, renewables and storage cannot serve "
          "it (check the import limits and the profiles)"),
])
def test_shed_load_is_a_warning(limit: float, line: str) -> None:
    """One step of 10 kW with an import limit: the rest is shed (10 - limit kWh a year)."""
    system = make_system([{"name": "mg0", "import_limit_kw": limit}], tariff=tariff(0.5),
                         storage=storage(energy_max_kwh=0.0, power_max_kw=0.0))
    ds = solve(system, make_scenarios(one_day([10.0])), "individual")
    assert value(ds, "shed_kwh_per_yr") == approx(10.0 - limit)
    assert str(ds["warnings"].values) == line
