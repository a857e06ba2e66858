"""The CSEE 2024 problem A study: reference numbers without storage, the ladder of sharing
architectures of the three parks.

The reference table (``studies/csee2024a/README.md``) was computed independently of
sesplan; the model's dispatch must reproduce it to 0.01 kWh/day. The contest's joint
operation (one power balance for the three parks) is the three parks exchanging energy
directly (architecture ``p2p``, fee 0, no limit). The ladder's annual costs must keep the
containment order of ``docs/formulation.md`` ("Sharing architectures").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from framework.architecture import LADDER
from framework.solve.ef import plan_ef
from scenarios_gen.sources import load_days
from tests.studies.conftest import STUDIES, load_study_script

STUDY = STUDIES / "csee2024a"
REL = 1e-7  # relative slack of a cost comparison (HiGHS' optimality tolerance)

run = load_study_script("csee2024a", "run.py")
make_data = load_study_script("csee2024a", "make_data.py")


@pytest.fixture(scope="module")
def solved():
    """Solve each (system, days, architecture(s), planning, fixed) once for the module."""
    cache = {}

    def get(name, days="typical", modes=None, fixed=None, **planning):
        key = (name, days, modes, fixed, tuple(sorted(planning.items())))
        if key not in cache:
            system = run.variant(name, days, **planning)
            modes = modes or tuple(system.planning.architectures)
            kwargs = {}
            if fixed is not None:
                kwargs["fixed_capacity"] = run.fixed_plan(fixed, run.FIXED_ENERGY_KWH,
                                                          run.FIXED_POWER_KW)
            cache[key] = plan_ef(system, load_days(system), modes=list(modes), **kwargs)
        return cache[key]

    return get


def closed_form(ds, by_hour=False):
    """Without storage every renewable kWh up to the load is used (it costs 0.4 / 0.5, the
    grid 1): per balance and hour, purchase ``max(load - available, 0)`` and curtailment
    ``max(available - load, 0)`` (kWh, 1 h steps), per microgrid; summed over the day
    unless ``by_hour``."""
    available = ds["pv_kw"] * ds["pv_pu"] + ds["wind_kw"] * ds["wind_pu"]
    out = (np.maximum(ds["load_kw"] - available, 0.0),
           np.maximum(available - ds["load_kw"], 0.0))
    return out if by_hour else tuple(x.sum("step") for x in out)


@pytest.mark.parametrize("park", run.PARKS)
def test_park_alone_without_storage_matches_reference(solved, park):
    ds = solved(f"park_{park}", storage="none")
    assert list(ds["mode"].values) == ["none"] and ds.sizes["storage"] == 0
    ref = run.REFERENCE[park]
    grid, curtailed = (run.daily_kwh(ds, name, "none") for name in ("grid_import_kw",
                                                                   "curtailed_kw"))
    assert grid == pytest.approx(ref["grid_kwh"], abs=0.01)
    assert curtailed == pytest.approx(ref["curtailed_kwh"], abs=0.01)
    hand = closed_form(ds.sel(mode="none"))
    assert grid == pytest.approx(float(hand[0].sum()), abs=1e-6)
    assert curtailed == pytest.approx(float(hand[1].sum()), abs=1e-6)
    assert float(ds["shed_kw"].max()) == pytest.approx(0.0, abs=1e-9)
    assert float(ds["grid_export_kw"].max()) == pytest.approx(0.0, abs=1e-9)


def test_joint_reference_through_exchange(solved):
    """The contest's joint operation without storage is ``three_parks.toml`` as it stands
    (storage none, exchange p2p): three balances and three grid connections that trade
    energy free of charge reproduce the one balance of the contest."""
    system = run.variant("three_parks")
    assert system.planning.architectures == [run.JOINT] == ["p2p"]
    assert system.shared.exchange_fee_per_kwh == 0.0
    assert all(mg.p2p_limit_kw is None for mg in system.microgrids)
    ds = solved("three_parks")
    r = ds.sel(mode="p2p")
    ref = run.REFERENCE["joint"]
    grid, curtailed = (run.daily_kwh(ds, name, "p2p") for name in ("grid_import_kw",
                                                                  "curtailed_kw"))
    assert grid == pytest.approx(ref["grid_kwh"], abs=0.01)
    assert curtailed == pytest.approx(ref["curtailed_kwh"], abs=0.01)
    # by hand: the one balance of the summed loads and availabilities; what the parks alone
    # buy beyond it is what one park curtails while another buys, hour by hour
    alone_grid, alone_curtailed = (x.sum("microgrid") for x in closed_form(r, by_hour=True))
    assert grid == pytest.approx(float(np.maximum(alone_grid - alone_curtailed, 0).sum()),
                                 abs=1e-6)
    assert curtailed == pytest.approx(float(np.maximum(alone_curtailed - alone_grid, 0).sum()),
                                      abs=1e-6)
    needed = float(np.minimum(alone_grid, alone_curtailed).sum())
    assert float(alone_grid.sum()) - grid == pytest.approx(needed, abs=1e-6)
    # the least exchange of the optimum moves at least that; it moves more because a park
    # with surplus wind (0.5 CNY/kWh) takes another park's surplus PV (0.4) instead
    exchanged = float(r["exchanged_kwh_per_yr"]) / system.planning.days_per_year
    assert exchanged >= needed - 1e-6
    # no storage at all; the exchange balances in every hour; parks that may not export to
    # the utility (export_limit_kw = 0) still send energy to each other
    assert ds.sizes["storage"] == 0
    np.testing.assert_allclose(r["p2p_in_kw"].sum("microgrid"), r["p2p_out_kw"].sum("microgrid"),
                               atol=1e-6)
    assert float(r["grid_export_kw"].max()) == pytest.approx(0.0, abs=1e-9)
    assert float(r["p2p_out_kw"].max()) > 100.0
    assert float(r["shed_kw"].max()) == pytest.approx(0.0, abs=1e-9)


def test_ladder_containment_on_the_typical_day(solved):
    """Annual costs of the ladder keep the containment order of the reference model under
    its conditions, which all hold here: no ``energy_min_kwh``, capex multiplier 1, fee 0,
    no station connection, p2p or capacity bound (nor modules or a fixed cost)."""
    system = run.variant("three_parks")
    st = system.storage
    assert system.shared.capex_multiplier == 1.0 and system.shared.exchange_fee_per_kwh == 0.0
    assert (st.energy_min_kwh, st.energy_max_kwh, st.power_max_kw, st.module_energy_kwh,
            st.module_power_kw, st.fixed_cost) == (None, None, None, None, None, 0.0)
    assert all(mg.station_limit_kw is None and mg.p2p_limit_kw is None
               for mg in system.microgrids)
    ds = solved("three_parks", modes=LADDER)
    assert list(ds["mode"].values) == list(LADDER)
    cost = {m: float(ds["annual_cost"].sel(mode=m)) for m in LADDER}
    slack = REL * cost["none"]
    # storage or exchange nobody uses is free: each rung contains the one without it
    assert cost["none"] >= cost["individual"] - slack
    assert cost["none"] >= cost["p2p"] - slack
    assert cost["p2p"] >= cost["individual+p2p"] - slack
    assert cost["individual"] >= cost["individual+p2p"] - slack
    assert cost["individual"] >= cost["accounts"] - slack
    assert cost["accounts"] >= cost["accounts+p2p"] - slack
    assert cost["accounts+p2p"] >= cost["pooled"] - slack
    # a pooled station with nothing built is exchange only (its bus is unbounded here)
    assert cost["pooled"] <= cost["p2p"] + slack
    # at fee 0 accounts + p2p is pooled: moving energy directly or through the bus is free
    assert cost["accounts+p2p"] == pytest.approx(cost["pooled"], rel=REL)
    # the architectures that cannot move energy exchange none
    exchanged = {m: float(ds["exchanged_kwh_per_yr"].sel(mode=m)) for m in LADDER}
    for m in ("none", "individual", "accounts"):
        assert exchanged[m] == 0.0
    # the individual rung is the three parks' own optima side by side
    parks = sum(float(solved(f"park_{p}")["annual_cost"].sel(mode="individual"))
                for p in run.PARKS)
    assert cost["individual"] == pytest.approx(parks, rel=REL)


def test_ladder_table(solved):
    ds = solved("three_parks", modes=LADDER)
    rungs = run.ladder(ds)
    table = run.table_ladder(rungs).splitlines()
    assert [row.split(" | ")[0].lstrip("| ") for row in table[2:]] == list(LADDER)
    assert rungs["p2p"]["grid_kwh_per_day"] == pytest.approx(
        run.REFERENCE["joint"]["grid_kwh"], abs=0.01)
    assert rungs["none"]["exchanged_kwh_per_day"] == 0.0
    assert rungs["p2p"]["exchange_p2p_kwh_per_day"] == pytest.approx(
        rungs["p2p"]["exchanged_kwh_per_day"])
    # the pooled station's exchange goes through its bus
    assert rungs["pooled"]["exchange_station_kwh_per_day"] == pytest.approx(
        rungs["pooled"]["exchanged_kwh_per_day"])


@pytest.mark.slow
def test_ladder_containment_on_the_monthly_days(solved):
    ds = solved("three_parks", "monthly", modes=LADDER)
    cost = {m: float(ds["annual_cost"].sel(mode=m)) for m in LADDER}
    slack = REL * cost["none"]
    for richer, poorer in (("individual", "none"), ("p2p", "none"),
                           ("individual+p2p", "p2p"), ("individual+p2p", "individual"),
                           ("accounts", "individual"), ("accounts+p2p", "accounts"),
                           ("pooled", "accounts+p2p")):
        assert cost[richer] <= cost[poorer] + slack, (richer, poorer)
    assert cost["pooled"] <= cost["p2p"] + slack
    assert cost["accounts+p2p"] == pytest.approx(cost["pooled"], rel=REL)


def test_optimal_storage_never_costs_more_than_none(solved):
    for p in run.PARKS:
        optimal = solved(f"park_{p}")
        none = solved(f"park_{p}", storage="none")
        assert float(optimal["annual_cost"].sel(mode="individual")) <= float(
            none["annual_cost"].sel(mode="none")) * (1 + REL)


@pytest.mark.parametrize("park", run.PARKS)
def test_fixed_50kw_100kwh_costs_more_than_optimum(solved, park):
    fixed = solved(f"park_{park}", fixed=(park,))
    optimal = solved(f"park_{park}")
    built = fixed.sel(mode="individual", storage=park)
    assert float(built["cap_energy_kwh"]) == pytest.approx(run.FIXED_ENERGY_KWH)
    assert float(built["cap_power_kw"]) == pytest.approx(run.FIXED_POWER_KW)
    assert float(fixed["annual_cost"].sel(mode="individual")) > float(
        optimal["annual_cost"].sel(mode="individual")) + 1.0


def test_monthly_days():
    system = run.variant("three_parks", "monthly")
    scen = load_days(system)
    assert scen.sizes["scenario"] == 12
    np.testing.assert_allclose(scen["probability"], 1.0 / 12)
    typical = load_days(run.variant("three_parks", "typical"))
    # loads: the typical-day loads in every month
    np.testing.assert_array_equal(scen["load_kw"].values,
                                  np.repeat(typical["load_kw"].values, 12, axis=0))
    # the published quirk is kept: month 2, hour 23, wind_B_pu 0.4347 (0 in the typical day)
    assert float(scen["wind_pu"].isel(scenario=1).sel(step=23, microgrid="B")) == 0.4347
    assert float(typical["wind_pu"].sel(step=23, microgrid="B").squeeze()) == 0.0


def test_derived_file_is_up_to_date():
    data = STUDY / "data"
    typical = pd.read_csv(data / "typical_day.csv")
    monthly = make_data.monthly_days(typical, pd.read_csv(data / "monthly_typical_days.csv"))
    stored = pd.read_csv(data / "monthly_days.csv")
    assert list(stored.columns) == list(monthly.columns)
    np.testing.assert_allclose(stored.to_numpy(float), monthly.to_numpy(float), rtol=1e-9,
                               atol=1e-12)


def test_study_toml_lists_every_solve():
    """``study.toml`` holds the 20 solves of the study; its overrides give the systems that
    ``run.variant`` builds."""
    from framework.study import load_study

    study = load_study(STUDY / "study.toml")
    assert len(study.cases) == 20
    none = next(c for c in study.cases if c.labels == {
        "system": "park_B.toml", "days": "monthly", "storage": "none"})
    system = none.load_system()
    expected = run.variant("park_B", "monthly", storage="none")
    assert system.planning == expected.planning and none.modes(system) == ["none"]
    assert system.history.path == expected.history.path == "data/monthly_days.csv"
    fixed = next(c for c in study.cases if c.labels.get("storage") == "fixed_50kW_100kWh")
    assert fixed.fixed_capacity == {"energy_kwh": run.FIXED_ENERGY_KWH,
                                    "power_kw": run.FIXED_POWER_KW}
    assert fixed.modes() == ["individual"]
    ladder = [c for c in study.cases if c.base == "three_parks"]
    assert [c.labels["days"] for c in ladder] == list(run.DAYS)
    assert all(c.modes() == list(LADDER) for c in ladder)
    assert study.outputs.report == "run.py"


@pytest.mark.slow
def test_study_runner_reproduces_reference(tmp_path):
    """The whole study through the runner: reference numbers, tables, and a rerun that
    solves nothing."""
    import json

    from framework.study import run_study

    result = run_study(STUDY / "study.toml", tmp_path)
    assert not result.failed and len(result.solved) == 20
    data = json.loads((tmp_path / "summary.json").read_text())
    for row in data["reference_check"]:
        assert row["grid_kwh"] == pytest.approx(row["grid_ref"], abs=0.01)
        assert row["curtailed_kwh"] == pytest.approx(row["curtailed_ref"], abs=0.01)
    assert sorted(data["ladder"]["monthly"]) == sorted(LADDER)  # summary.json sorts keys
    tables = (tmp_path / "tables.md").read_text()
    assert "## (a) No storage, typical day: model vs. reference" in tables
    assert "## (d) The ladder of sharing architectures, typical day" in tables
    again = run_study(STUDY / "study.toml", tmp_path)
    assert again.solved == [] and (tmp_path / "tables.md").read_text() == tables
