"""The MMW gap (``framework/mmw.py``): each batch of drawn days solved as one extensive form.

* without what couples the days, the loop is mpi-sppy's ``MMWConfidenceIntervals`` (this
  module is its model module, the farmer contract, for the reference run): the same draws,
  batch gaps, estimate and interval;
* with a binding cycle life (the ageing system of ``test_ageing.py``) and with monthly
  demand charges (the demand-charge system of ``test_tariffs.py``): the cycles and the
  billing peaks are decided with each batch's year, every batch gap is the difference of
  two extensive forms on its days built here apart, the plan optimal on the whole pool has a
  small gap and a poor plan a larger one.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import replace
from typing import Any

import numpy as np
import pyomo.environ as pyo
import pytest
import xarray as xr

from framework._mpisppy import sputils
from framework.evaluate import plan_capacity
from framework.mmw import DayPool, GapInterval, batch_days, mmw_gap
from framework.model import build_scenario_model, first_stage_vars, fix_capacity, scenario_data
from framework.model.data import scenario_months
from framework.solve.ef import solve_ef
from tests.framework.conftest import LOSSLESS, make_scenarios, make_system
from tests.framework.test_ageing import STORAGE as AGEING_STORAGE
from tests.framework.test_ageing import TARIFF as AGEING_TARIFF
from tests.framework.test_tariffs import with_days

# ---- mpi-sppy's MMW, the reference: this module is its model module --------------------

_REFERENCE: dict[str, Any] = {}


def scenario_names_creator(num_scens: int, start: int | None = None) -> list[str]:
    start = 0 if start is None else start
    return [f"scen{k}" for k in range(start, start + num_scens)]


def inparser_adder(cfg: Any) -> None:
    cfg.num_scens_required()


def kw_creator(cfg: Any) -> dict[str, Any]:
    return {"num_scens": cfg["num_scens"]}


def scenario_denouement(rank: int, scenario_name: str, scenario: pyo.ConcreteModel) -> None:
    pass


def scenario_creator(scenario_name: str, *, num_scens: int) -> pyo.ConcreteModel:
    """Scenario ``scen<k>``: the day :meth:`DayPool.draw` picks, probability 1/num_scens."""
    system, pool, mode = _REFERENCE["system"], _REFERENCE["pool"], _REFERENCE["mode"]
    k = int(scenario_name.removeprefix("scen"))
    data = replace(scenario_data(pool.days, pool.draw(k)), name=scenario_name,
                   probability=1.0 / num_scens)
    m = build_scenario_model(system, data, mode)
    sputils.attach_root_node(m, m.capex_annual, first_stage_vars(m))
    return m


def mpisppy_mmw(system: Any, capacity: Any, days: xr.Dataset, mode: str, *, batch_size: int,
                batches: int, seed: int, confidence: float) -> dict[str, Any]:
    """mpi-sppy's ``MMWConfidenceIntervals`` on the draws of :class:`DayPool` (run in a
    temporary working directory: importing its ``xhat_eval`` writes ``xhateval.log``)."""
    from mpisppy.confidence_intervals import mmw_ci
    from mpisppy.utils import config

    m = build_scenario_model(system, scenario_data(days, 0), mode)
    fix_capacity(m, system, capacity)
    xhat = {"ROOT": np.array([pyo.value(v) for var in first_stage_vars(m)
                              for v in var.values()])}
    cfg = config.Config()
    cfg.quick_assign("EF_2stage", bool, True)
    cfg.quick_assign("EF_solver_name", str, "appsi_highs")
    cfg.quick_assign("num_scens", int, batch_size)
    _REFERENCE.update(system=system, pool=DayPool(days, seed), mode=mode)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            ci = mmw_ci.MMWConfidenceIntervals(__name__, cfg, xhat, batches,
                                               batch_size=batch_size, start=0, verbose=False)
            return ci.run(confidence_level=confidence)
    finally:
        _REFERENCE.clear()


def uncoupled_case() -> tuple[Any, xr.Dataset, dict[str, dict[str, float]]]:
    """Two microgrids with PV, a cheap night and a dear evening, eight random days of four
    steps (uneven probabilities); the plan is the optimum on three of them."""
    system = make_system(
        [{"name": "mg0", "pv_kw": 4.0}, {"name": "mg1", "pv_kw": 1.0}],
        tariff={"price_buy_per_kwh": [0.1, 0.3, 0.6, 0.9], "price_sell_per_kwh": 0.05},
        storage={**LOSSLESS, "capex_energy_per_kwh": 0.08, "capex_power_per_kw": 0.02,
                 "lifetime_yr": 1.0, "discount_rate": 0.0, "om_fraction_per_yr": 0.0})
    rng = np.random.default_rng(11)
    load = rng.uniform(0.0, 3.0, size=(8, 4, 2))
    pv = rng.uniform(0.0, 1.0, size=(8, 4, 2)) * np.array([0.0, 1.0, 0.5, 0.0])[None, :, None]
    probability = rng.uniform(0.5, 1.5, size=8)
    days = make_scenarios(load, pv_pu=pv, probability=probability / probability.sum())
    three = make_scenarios(load[:3], pv_pu=pv[:3])
    return system, days, three


@pytest.mark.parametrize("mode", ["individual", "accounts"])
def test_the_loop_is_mpi_sppys_mmw(mode: str, tmp_path, monkeypatch) -> None:
    system, days, three = uncoupled_case()
    capacity = plan_capacity(solve_ef(system, three, mode), mode, system.names)
    settings = {"batch_size": 3, "batches": 4, "seed": 7, "confidence": 0.9}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        gap = mmw_gap(system, capacity, days, mode, **settings)
    assert out.getvalue() == ""  # no solver chatter
    monkeypatch.chdir(tmp_path)
    reference = mpisppy_mmw(system, capacity, days, mode, **settings)
    np.testing.assert_allclose(gap.batch_gaps, reference["Glist"], rtol=1e-6, atol=1e-7)
    assert gap.estimate == pytest.approx(reference["Gbar"], rel=1e-6, abs=1e-7)
    assert gap.std == pytest.approx(reference["std"], rel=1e-6, abs=1e-7)
    assert gap.ci_high == pytest.approx(reference["gap_inner_bound"], rel=1e-6, abs=1e-7)
    assert gap.ci_low == reference["gap_outer_bound"] == 0
    assert max(gap.batch_gaps) > 0.005  # a plan from three days is not optimal everywhere


# ---- the batches --------------------------------------------------------------------------

def test_a_batch_keeps_the_months_of_its_drawn_days() -> None:
    # scenario 0 stands for two January days, scenario 1 for a February and a March day,
    # scenario 2 for no day: drawn as 1, 0, 1, 2, each keeps its months, each of 1/4
    days = with_days(make_scenarios(np.arange(3.0).reshape(3, 1, 1), probability=[0.5, 0.3, 0.2]),
                     ["2016-01-04", "2016-01-05", "2016-02-01", "2016-03-01"], [0, 0, 1, 1])
    batch = batch_days(days, [1, 0, 1, 2])
    assert batch["probability"].values.tolist() == [0.25] * 4
    assert batch["load_kw"].values.ravel().tolist() == [1.0, 0.0, 1.0, 2.0]
    assert [scenario_months(batch, k) for k in range(4)] == [(2, 3), (1,), (2, 3), ()]
    assert [scenario_data(batch, k).months for k in range(4)] == [(2, 3), (1,), (2, 3), ()]


# ---- what couples the days: decided with each batch's year -------------------------------

def drawn(days: xr.Dataset, seed: int, j: int, n: int) -> list[int]:
    """The positions of batch ``j``'s days, as mpi-sppy's batches and ``DayPool`` draw
    them: scenario ``k`` is ``default_rng([seed, k])``'s draw, batch ``j`` is ``k = j n ..
    (j + 1) n - 1``."""
    p = days["probability"].values
    return [int(np.random.default_rng([seed, k]).choice(len(p), p=p / p.sum()))
            for k in range(j * n, (j + 1) * n)]


def batch_by_hand(days: xr.Dataset, positions: list[int]) -> xr.Dataset:
    """The drawn days, each of probability 1/n; a day of a pool of days keeps its date."""
    out = days.isel(scenario=positions)
    if "membership" in days:  # every day its own scenario here
        out = out.isel(day=positions).assign(membership=("day", np.arange(len(positions))))
    out["probability"] = ("scenario", np.full(len(positions), 1.0 / len(positions)))
    return out.assign_coords(scenario=np.arange(len(positions)))


def gap_by_hand(system: Any, capacity: Any, batch: xr.Dataset, mode: str) -> float:
    at_plan = float(solve_ef(system, batch, mode, fixed_capacity=capacity)["objective"][0])
    return max(0.0, at_plan - float(solve_ef(system, batch, mode)["objective"][0]))


def scaled(capacity: Any, factor: float) -> dict[str, dict[str, float]]:
    return {name: {k: factor * v for k, v in caps.items()} for name, caps in capacity.items()}


def cycle_life_case() -> tuple[Any, xr.Dataset]:
    """The ageing system with a cycle life of 1460 cycles at full depth (the B days alone
    wear the cells in 8 years, before their 10 calendar years) and four days: no sun (A),
    full sun (B, half the days), and two with some sun in the first hour. On the pool the
    optimum is E = 1, cycled so often that the cells last 5.9 years."""
    system = make_system([{"name": "mg0", "pv_kw": 1.0}], tariff=AGEING_TARIFF,
                         storage={**AGEING_STORAGE, "cycle_life": 1460.0,
                                  "cycle_life_dod": 1.0, "om_fraction_per_yr": 0.001},
                         planning={"days_per_year": 365.0})
    load = np.array([[[0.0], [1.0]]] * 4)
    pv = np.array([[[0.0], [0.0]], [[1.0], [0.0]], [[0.6], [0.0]], [[0.3], [0.0]]])
    return system, make_scenarios(load, pv_pu=pv, probability=[0.1, 0.5, 0.2, 0.2])


def monthly_case() -> tuple[Any, xr.Dataset]:
    """Monthly demand charges of 1 per kW on two microgrids at a flat price of 1, one day a
    year, a lossless battery at 1 per kWh and 0.01 per kW a year: six days of two steps in
    January, February and March, each day its own scenario. (A batch that misses the day
    that sets a month's peak on the pool shaves its other days further: the plan optimal on
    the pool is a little small for it.)"""
    system = make_system([{"name": "mg0"}, {"name": "mg1"}],
                         storage={**LOSSLESS, "capex_energy_per_kwh": 1.0,
                                  "capex_power_per_kw": 0.01, "lifetime_yr": 1.0,
                                  "discount_rate": 0.0},
                         tariff={"price_buy_per_kwh": 1.0, "price_sell_per_kwh": 0.0,
                                 "voll_per_kwh": 1000.0, "demand_charge_per_kw": 1.0,
                                 "billing_period": "month"})
    load = np.random.default_rng(5).uniform(0.0, 3.0, size=(6, 2, 2))
    dates = ["2016-01-04", "2016-01-20", "2016-02-03", "2016-02-17", "2016-03-02",
             "2016-03-30"]
    return system, with_days(make_scenarios(load), dates, list(range(6)))


COUPLED = {"cycle life": cycle_life_case, "monthly demand charges": monthly_case}


@pytest.mark.parametrize("case", list(COUPLED))
def test_coupled_days_are_decided_with_each_batch(case: str) -> None:
    system, days = COUPLED[case]()
    mode, n, m, seed = "individual", 4, 3, 3
    pool = solve_ef(system, days, mode)
    if case == "cycle life":  # binding: the cells wear out before their calendar life
        assert float(pool["implied_life_yr"].squeeze()) < 10.0 - 1e-6
    optimal = plan_capacity(pool, mode, system.names)
    gap = mmw_gap(system, optimal, days, mode, batch_size=n, batches=m, seed=seed)
    assert isinstance(gap, GapInterval) and len(gap.batch_gaps) == m
    assert min(gap.batch_gaps) >= -1e-6  # the plan is feasible on every batch
    none = mmw_gap(system, scaled(optimal, 0.0), days, mode, batch_size=n, batches=m,
                   seed=seed)
    ten = mmw_gap(system, scaled(optimal, 10.0), days, mode, batch_size=n, batches=m,
                  seed=seed)
    # batch 1, built and solved here apart: the same gaps
    batch = batch_by_hand(days, drawn(days, seed, 1, n))
    for plan, found in ((optimal, gap), (scaled(optimal, 0.0), none)):
        assert found.batch_gaps[1] == pytest.approx(gap_by_hand(system, plan, batch, mode),
                                                    rel=1e-6, abs=1e-7)
    if case == "monthly demand charges":  # the batch's billing periods: its days' months
        months = sorted({int(str(d)[5:7]) for d in batch["day"].values})
        assert solve_ef(system, batch, mode)["billing_period"].values.tolist() == months
    # the plan optimal on the pool is close to each batch's optimum; none and ten times
    # as much are not
    assert gap.estimate <= 0.05 * float(pool["objective"][0])
    assert gap.estimate <= 0.2 * min(none.estimate, ten.estimate)
