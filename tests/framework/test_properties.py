"""Properties of the planning model over random small systems (hypothesis).

Systems: 2-3 microgrids, 3-4 steps of 1 h, 1-2 scenarios, random loads, PV, time-of-use
prices and grid limits, one storage technology for own batteries and the station, a station
capex multiplier of 1 or 0.8 and an exchange fee of 0 or 0.02. No station connection limit,
no p2p limit, no capacity bound and no ``energy_min_kwh``. The feed-in price never exceeds
the cheapest purchase price, so no plan earns money without bound.

Properties:
- the containment order of the sharing architectures (``docs/formulation.md``,
  "Containment"), each under its conditions: none >= individual; individual >=
  individual+p2p; individual >= accounts (multiplier <= 1, fee 0: the station with
  ``E = sum_i E_i`` and ``P = sum_i P_i`` copies any individual schedule, checked also by
  evaluating that station); accounts >= accounts+p2p >= pooled; pooled+p2p == pooled; at
  fee 0, accounts+p2p == pooled;
- every recourse problem is feasible for every fixed first stage, zero capacity included
  (load is shed at VOLL), and a fixed plan never beats the optimum.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework.architecture import ARCHITECTURES
from framework.solve.ef import solve_ef
from tests.framework.conftest import make_scenarios, make_system

SETTINGS = settings(max_examples=10, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def tenths(lo: int, hi: int) -> st.SearchStrategy[float]:
    return st.integers(lo, hi).map(lambda k: k / 10)


def optional(strategy: st.SearchStrategy[float]) -> st.SearchStrategy[float | None]:
    return st.one_of(st.none(), strategy)


@st.composite
def cases(draw: Any, sustainable: bool = False) -> tuple[Any, Any]:
    """A random system and scenario set.

    ``sustainable``: no self-discharge while ``soc_min_frac > 0`` (see
    :func:`test_fixed_storage_that_cannot_hold_its_minimum_charge_is_infeasible`).
    """
    n = draw(st.integers(2, 3))
    steps = draw(st.integers(3, 4))
    k = draw(st.integers(1, 2))
    microgrids = []
    for j in range(n):
        mg: dict[str, Any] = {"name": f"mg{j}", "pv_kw": draw(tenths(0, 200))}
        limit = draw(optional(tenths(0, 150)))
        if limit is not None:
            mg["import_limit_kw"] = limit
        export = draw(optional(tenths(0, 100)))
        if export is not None:
            mg["export_limit_kw"] = export
        microgrids.append(mg)
    shape = (k, steps, n)
    load = np.array(draw(st.lists(tenths(0, 200), min_size=k * steps * n,
                                  max_size=k * steps * n))).reshape(shape)
    pv = np.array(draw(st.lists(tenths(0, 10), min_size=k * steps * n,
                                max_size=k * steps * n))).reshape(shape)
    weights = np.array(draw(st.lists(st.integers(1, 4), min_size=k, max_size=k)), float)
    buy = draw(st.lists(st.integers(1, 10).map(lambda c: c * 0.05), min_size=steps,
                        max_size=steps))
    sell = draw(st.sampled_from([0.0, 0.5, 1.0])) * min(buy)
    soc_min = draw(st.sampled_from([0.0, 0.1, 0.2]))
    self_discharge = draw(st.sampled_from([0.0, 0.01, 0.05]))
    if sustainable and soc_min > 0:
        self_discharge = 0.0
    storage: dict[str, Any] = {
        "capex_energy_per_kwh": draw(tenths(0, 30)), "capex_power_per_kw": draw(tenths(0, 30)),
        "om_fraction_per_yr": 0.01, "lifetime_yr": 10.0, "discount_rate": 0.05,
        "eta_charge": draw(st.sampled_from([0.8, 0.9, 1.0])),
        "eta_discharge": draw(st.sampled_from([0.8, 0.9, 1.0])),
        "soc_min_frac": soc_min, "soc_max_frac": draw(st.sampled_from([0.8, 0.9, 1.0])),
        "self_discharge_per_h": self_discharge,
        "degradation_cost_per_kwh": draw(st.sampled_from([0.0, 0.01, 0.03])),
    }
    ratio = draw(optional(st.sampled_from([0.25, 0.5, 1.0])))
    if ratio is not None:
        storage["power_to_energy_max_per_h"] = ratio
    tariff = {"price_buy_per_kwh": buy, "price_sell_per_kwh": sell,
              "voll_per_kwh": draw(st.sampled_from([0.5, 2.0, 10.0])),
              "price_pv_per_kwh": draw(st.sampled_from([0.0, 0.02])),
              "curtailment_cost_per_kwh": draw(st.sampled_from([0.0, 0.01]))}
    shared = {"capex_multiplier": draw(st.sampled_from([1.0, 0.8])),
              "exchange_fee_per_kwh": draw(st.sampled_from([0.0, 0.02]))}
    system = make_system(microgrids, tariff=tariff, storage=storage, shared=shared)
    scenarios = make_scenarios(load, pv_pu=pv, probability=weights / weights.sum())
    return system, scenarios


def objective(ds: Any) -> float:
    return float(ds["objective"].isel(mode=0))


def capacities(ds: Any) -> dict[str, dict[str, float]]:
    return {name: {str(k): float(ds[name].isel(mode=0).sel(storage=k))
                   for k in ds["storage"].values} for name in ("cap_energy_kwh", "cap_power_kw")}


@settings(SETTINGS, max_examples=8)  # 8 architectures and 5 least-exchange solves each
@given(case=cases())
def test_containment_of_the_architectures(case: tuple[Any, Any]) -> None:
    """Each architecture contains the one it is compared with (can copy its every schedule
    at no more cost), under the conditions of the cases: no connection limits bind."""
    system, scenarios = case
    results = {mode: solve_ef(system, scenarios, mode) for mode in ARCHITECTURES}
    cost = {mode: objective(ds) for mode, ds in results.items()}
    tol = 1e-6 * max(1.0, *(abs(c) for c in cost.values()))
    fee, multiplier = system.shared.exchange_fee_per_kwh, system.shared.capex_multiplier

    def at_least(more: str, less: str) -> None:
        assert cost[more] >= cost[less] - tol, (more, less, cost)

    at_least("none", "individual")
    at_least("none", "p2p")
    at_least("individual", "individual+p2p")
    at_least("p2p", "individual+p2p")
    at_least("accounts", "accounts+p2p")
    at_least("accounts+p2p", "pooled")
    at_least("p2p", "pooled")                    # a pooled bus with nothing built exchanges
    assert abs(cost["pooled+p2p"] - cost["pooled"]) <= tol, cost
    if fee == 0:
        assert abs(cost["accounts+p2p"] - cost["pooled"]) <= tol, cost
    if fee == 0 and multiplier <= 1:
        at_least("individual", "accounts")
        # the station that adds up the individual batteries is a plan at least as good
        caps = capacities(results["individual"])
        summed = {name: {"station": sum(values.values())} for name, values in caps.items()}
        copied = objective(solve_ef(system, scenarios, "accounts", fixed_capacity=summed))
        assert copied <= cost["individual"] + tol
        assert cost["accounts"] <= copied + tol


capacity_values = st.one_of(st.just(0.0), tenths(0, 500))


@SETTINGS
@given(case=cases(sustainable=True),
       mode=st.sampled_from(["individual", "accounts", "pooled", "pooled+p2p"]),
       energy=st.lists(capacity_values, min_size=3, max_size=3),
       power=st.lists(capacity_values, min_size=3, max_size=3))
def test_every_fixed_plan_is_feasible_and_no_better_than_the_optimum(
        case: tuple[Any, Any], mode: str, energy: list[float], power: list[float]) -> None:
    system, scenarios = case
    optimum = objective(solve_ef(system, scenarios, mode))
    scale = max(1.0, abs(optimum))
    storages = system.names if mode == "individual" else ["station"]
    ratio = system.storage.power_to_energy_max_per_h
    plans = [{"cap_energy_kwh": {k: 0.0 for k in storages},
              "cap_power_kw": {k: 0.0 for k in storages}}]
    random_plan = {"cap_energy_kwh": dict(zip(storages, energy)),
                   "cap_power_kw": dict(zip(storages, power))}
    if ratio is not None:  # keep the plan within the first-stage bound P <= ratio * E
        random_plan["cap_power_kw"] = {k: min(p, ratio * random_plan["cap_energy_kwh"][k])
                                       for k, p in random_plan["cap_power_kw"].items()}
    plans.append(random_plan)
    for plan in plans:
        evaluated = solve_ef(system, scenarios, mode, fixed_capacity=plan)  # raises if infeasible
        assert str(evaluated["termination"].isel(mode=0).values) == "optimal"
        assert objective(evaluated) >= optimum - 1e-6 * scale
        for name in ("cap_energy_kwh", "cap_power_kw"):
            got = capacities(evaluated)[name]
            assert got == {k: pytest.approx(v, abs=1e-9) for k, v in plan[name].items()}
        # shedding is bounded by the load, every load is met or shed
        shed = evaluated["shed_kw"].isel(mode=0)
        assert bool((shed <= evaluated["load_kw"] + 1e-6).all())


def test_fixed_storage_without_energy_to_hold_its_floor_is_feasible() -> None:
    """Self-discharge acts above the SOC floor: a storage left alone stays there, the load is
    shed at VOLL, and the recourse problem stays feasible (no grid, no renewables)."""
    system = make_system([{"name": "mg0", "import_limit_kw": 0.0}],
                         storage={"soc_min_frac": 0.2, "self_discharge_per_h": 0.01})
    scenarios = make_scenarios(np.ones((1, 2, 1)))
    plan = {"cap_energy_kwh": {"mg0": 10.0}, "cap_power_kw": {"mg0": 5.0}}
    evaluated = solve_ef(system, scenarios, "individual", fixed_capacity=plan)
    tech = system.storage
    capex = tech.annual_factor * (tech.capex_energy_per_kwh * 10 + tech.capex_power_per_kw * 5)
    # 2 kWh of load shed at VOLL; any use of the storage below its floor is impossible
    assert objective(evaluated) == pytest.approx(capex + 2 * system.tariff.voll_per_kwh)
    assert [float(v) for v in evaluated["soc_kwh"].sel(mode="individual", scenario=0,
                                                          storage="mg0")] == [
        pytest.approx(2.0), pytest.approx(2.0)]
