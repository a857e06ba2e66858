"""Validation of the system description: every error names the file, the section and the key."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from framework.errors import InputError
from framework.model import build_scenario_model, scenario_data
from framework.solve.ef import solve_ef
from framework.system import (
    Storage,
    System,
    default_system,
    default_system_path,
    load_system,
    system_from_dict,
    system_to_dict,
)
from tests.framework.conftest import make_scenarios, make_system


def build(**sections: Any) -> System:
    return system_from_dict({"microgrid": [{"name": "a"}], **sections}, where="sys.toml")


def error_of(**sections: Any) -> str:
    with pytest.raises(InputError) as err:
        build(**sections)
    return str(err.value)


# --- unknown keys ------------------------------------------------------------------------


def test_unknown_key_names_the_section_and_lists_the_valid_keys() -> None:
    msg = error_of(storage={"capex_energy": 100.0})
    assert msg.startswith("sys.toml: storage: ")
    assert "'capex_energy'" in msg
    valid = msg.split("valid keys:")[1]
    for key in ("capex_energy_per_kwh", "capex_power_per_kw", "eta_charge", "module_energy_kwh"):
        assert key in valid


def test_unknown_microgrid_key_names_the_microgrid() -> None:
    with pytest.raises(InputError) as err:
        system_from_dict({"microgrid": [{"name": "a"}, {"name": "b", "pv": 3.0}]},
                         where="sys.toml")
    msg = str(err.value)
    assert "microgrid[1]" in msg and "'pv'" in msg and "pv_kw" in msg.split("valid keys:")[1]


def test_unknown_top_level_key_lists_the_sections() -> None:
    msg = error_of(storge={})
    assert "'storge'" in msg
    valid = msg.split("valid keys:")[1]
    for key in ("microgrid", "history", "tariff", "storage", "shared", "planning"):
        assert key in valid


def test_section_that_is_not_a_table() -> None:
    assert "sys.toml: storage: expected a table" in error_of(storage=3)


def test_microgrid_without_a_name() -> None:
    with pytest.raises(InputError, match=r"microgrid\[0\].*name"):
        system_from_dict({"microgrid": [{"pv_kw": 3.0}]}, where="sys.toml")


def test_no_microgrid() -> None:
    with pytest.raises(InputError, match=r"sys.toml: .*\[\[microgrid\]\]"):
        system_from_dict({"microgrid": []}, where="sys.toml")


# --- values ------------------------------------------------------------------------------


@pytest.mark.parametrize("section, key, value, expected", [
    ("storage", "capex_energy_per_kwh", -1.0, ">= 0"),
    ("storage", "degradation_cost_per_kwh", -0.01, ">= 0"),
    ("tariff", "voll_per_kwh", -5.0, ">= 0"),
    ("tariff", "curtailment_cost_per_kwh", -0.1, ">= 0"),
    ("shared", "exchange_fee_per_kwh", -0.1, ">= 0"),
    ("shared", "capex_multiplier", -1.0, ">= 0"),
    ("storage", "eta_charge", 1.1, "(0, 1]"),
    ("storage", "eta_discharge", 0.0, "(0, 1]"),
    ("storage", "lifetime_yr", 0.0, "> 0"),
    ("storage", "discount_rate", math.nan, "finite"),
    ("storage", "soc_max_frac", 1.5, "[0, 1]"),
    ("storage", "max_modules", 0, ">= 1"),
    ("tariff", "price_buy_per_kwh", [0.1, math.inf], "finite"),
    ("tariff", "price_sell_per_kwh", [], "non-empty"),
    ("history", "step_h", 5.0, "divides 24"),
    ("planning", "storage", "together", "one of"),
    ("planning", "station", "shared", "one of"),
    ("planning", "exchange", "grid", "one of"),
    ("planning", "forbid_simultaneous", "yes", "true or false"),
    ("planning", "days_per_year", 0.0, "> 0"),
])
def test_invalid_value_names_section_and_key(section: str, key: str, value: Any,
                                             expected: str) -> None:
    msg = error_of(**{section: {key: value}})
    assert msg.startswith(f"sys.toml: {section}.{key}: expected")
    assert expected in msg


@pytest.mark.parametrize("tariff, key, expected", [
    ({"price_buy_per_kwh": 0.3, "voll_per_kwh": 0.2}, "voll_per_kwh",
     "at least the highest price_buy_per_kwh (0.3)"),
    ({"price_buy_per_kwh": [0.1, 0.4], "voll_per_kwh": 0.3}, "voll_per_kwh",
     "at least the highest price_buy_per_kwh (0.4)"),
    ({"price_buy_per_kwh": -0.05, "price_sell_per_kwh": 0.05}, "price_sell_per_kwh",
     "at most price_buy_per_kwh in every step"),
    ({"price_buy_per_kwh": [0.2, 0.04], "price_sell_per_kwh": 0.05}, "price_sell_per_kwh",
     "higher at step(s) [1]"),
])
def test_prices_that_make_shedding_or_arbitrage_pay_are_refused(tariff: dict, key: str,
                                                                expected: str) -> None:
    msg = error_of(tariff=tariff)
    assert msg.startswith(f"sys.toml: tariff.{key}: expected")
    assert expected in msg


def test_negative_buy_prices_are_accepted_below_the_sell_price() -> None:
    system = system_from_dict({"microgrid": [{"name": "a"}], "tariff": {
        "price_buy_per_kwh": [-0.05, 0.3], "price_sell_per_kwh": -0.1}})
    assert system.tariff.price_buy_per_kwh == (-0.05, 0.3)


def test_microgrid_value_names_the_microgrid_and_key() -> None:
    with pytest.raises(InputError) as err:
        system_from_dict({"microgrid": [{"name": "a", "import_limit_kw": -1.0}]},
                         where="sys.toml")
    assert str(err.value).startswith("sys.toml: microgrid[0].import_limit_kw: expected")


def test_soc_min_above_soc_max() -> None:
    msg = error_of(storage={"soc_min_frac": 0.9, "soc_max_frac": 0.5})
    assert msg.startswith("sys.toml: storage.soc_min_frac: expected less than soc_max_frac")


def test_bounds_in_the_wrong_order() -> None:
    assert "energy_min_kwh" in error_of(storage={"energy_min_kwh": 5.0, "energy_max_kwh": 1.0})
    assert "power_to_energy_min_per_h" in error_of(storage={
        "power_to_energy_min_per_h": 2.0, "power_to_energy_max_per_h": 1.0})


@pytest.mark.parametrize("key", ["soc_min_frac", "module_energy_kwh"])
def test_text_instead_of_a_number_names_the_key(key: str) -> None:
    """A quoted number in the TOML is an InputError that names the key, like any other."""
    values: dict[str, Any] = {key: "0.1"}
    if key == "module_energy_kwh":
        values["module_power_kw"] = 2.0
    msg = error_of(storage=values)
    assert f"storage.{key}" in msg


def test_infinite_lifetime_is_rejected() -> None:
    """TOML allows ``inf``; with r > 0 it would make the annuity inf / inf = nan."""
    assert "storage.lifetime_yr" in error_of(storage={"lifetime_yr": math.inf})


@pytest.mark.parametrize("given", ["module_energy_kwh", "module_power_kw"])
def test_modules_half_set(given: str) -> None:
    msg = error_of(storage={given: 4.0})
    assert "storage.module_power_kw" in msg and "module_energy_kwh" in msg


def test_modules_set_together() -> None:
    tech = build(storage={"module_energy_kwh": 4.0, "module_power_kw": 2.0}).storage
    assert tech.modular and not Storage().modular


def test_duplicate_microgrid_names() -> None:
    with pytest.raises(InputError, match=r"sys.toml: microgrid.name: expected unique names, "
                                         r"got \['a'\]"):
        system_from_dict({"microgrid": [{"name": "a"}, {"name": "b"}, {"name": "a"}]},
                         where="sys.toml")


def test_microgrid_named_station() -> None:
    with pytest.raises(InputError, match=r"microgrid.name: .*'station'"):
        system_from_dict({"microgrid": [{"name": "a"}, {"name": "station"}]}, where="sys.toml")


def test_crf() -> None:
    assert Storage(discount_rate=0.0, lifetime_yr=8.0).crf == pytest.approx(1 / 8)
    assert Storage(discount_rate=0.05, lifetime_yr=10.0).crf == pytest.approx(
        0.05 * 1.05 ** 10 / (1.05 ** 10 - 1))
    assert Storage(discount_rate=0.05, lifetime_yr=10.0,
                   om_fraction_per_yr=0.02).annual_factor == pytest.approx(
        0.05 * 1.05 ** 10 / (1.05 ** 10 - 1) + 0.02)


# --- price vectors: checked against the number of steps when the model is built ----------


@pytest.mark.parametrize("key", ["price_buy_per_kwh", "price_sell_per_kwh",
                                 "grid_co2_kg_per_kwh"])
def test_price_vector_of_the_wrong_length(key: str) -> None:
    system = make_system([{"name": "mg0"}], tariff={key: [0.1, 0.2, 0.3]})
    scenarios = make_scenarios([[[1.0], [2.0]]])
    with pytest.raises(InputError, match=rf"tariff\.{key}: expected 1 or 2 values.*got 3"):
        build_scenario_model(system, scenario_data(scenarios, 0), "individual")
    with pytest.raises(InputError, match=rf"tariff\.{key}"):
        solve_ef(system, scenarios, "accounts")


def test_price_vector_of_the_right_length_is_used_per_step() -> None:
    system = make_system([{"name": "mg0"}], tariff={"price_buy_per_kwh": [0.1, 0.2]},
                         storage={"energy_max_kwh": 0.0})
    assert system.tariff.price_buy_per_kwh == (0.1, 0.2)
    assert system.tariff.per_step("price_sell_per_kwh", 2) == (0.05, 0.05)
    ds = solve_ef(system, make_scenarios([[[1.0], [2.0]]]), "individual")
    assert float(ds["objective"].isel(mode=0)) == pytest.approx(0.1 * 1 + 0.2 * 2)


# --- files -------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(InputError, match="system file not found") as err:
        load_system(path)
    assert str(path) in str(err.value)


def test_invalid_toml(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\n[storage\ncapex_energy_per_kwh = 1\n')
    with pytest.raises(InputError, match="not valid TOML") as err:
        load_system(path)
    assert str(path) in str(err.value)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sys.toml"
    path.write_text('[[microgrid]]\nname = "a"\n[storage]\neta_charge = 2.0\n')
    with pytest.raises(InputError) as err:
        load_system(path)
    assert str(err.value).startswith(f"{path}: storage.eta_charge: expected")


def test_load_system_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "sys.toml"
    path.write_text('name = "two"\n[history]\nsource = "csv"\npath = "h.csv"\n'
                    '[[microgrid]]\nname = "a"\npv_kw = 5.0\ncolumns = {load_kw = "la"}\n'
                    '[[microgrid]]\nname = "b"\n'
                    '[tariff]\nprice_buy_per_kwh = [0.1, 0.2]\n')
    system = load_system(path)
    assert system.name == "two" and system.names == ["a", "b"]
    assert system.microgrids[0].columns == {"load_kw": "la"}
    assert system.tariff.price_buy_per_kwh == (0.1, 0.2)
    assert system.resolve(system.history.path) == tmp_path / "h.csv"


def test_default_system_loads() -> None:
    system = default_system()
    assert default_system_path().is_file()
    assert system.name == "four-microgrids"
    assert system.names == ["households", "commerce", "farm", "industry"]
    assert len(system.tariff.price_buy_per_kwh) == system.history.steps_per_day == 24
    assert system.planning.architectures == ["individual", "accounts"]
    assert system.planning.shared_architecture == "accounts"


# --- round trip --------------------------------------------------------------------------


def test_round_trip_of_the_default_system() -> None:
    system = default_system()
    data = system_to_dict(system)
    assert system_from_dict(data, base_dir=system.base_dir) == system
    assert "base_dir" not in data  # the location is not part of the configuration


def test_round_trip_with_every_optional_value_set() -> None:
    system = system_from_dict({
        "name": "full",
        "history": {"source": "days", "path": "days.csv", "step_h": 0.5},
        "microgrid": [{"name": "a", "pv_kw": 3.0, "import_limit_kw": 5.0,
                       "export_limit_kw": 0.0, "station_limit_kw": 2.0, "p2p_limit_kw": 1.5,
                       "columns": {"load_kw": "la", "pv_pu": "pa"}},
                      {"name": "b", "wind_kw": 4.0}],
        "tariff": {"price_buy_per_kwh": [0.1] * 24 + [0.2] * 24, "co2_price_per_kg": 0.05},
        "storage": {"energy_min_kwh": 1.0, "energy_max_kwh": 9.0, "power_max_kw": 4.0,
                    "power_to_energy_min_per_h": 0.1, "power_to_energy_max_per_h": 2.0,
                    "module_energy_kwh": 4.0, "module_power_kw": 2.0, "max_modules": 7,
                    "fixed_cost": 10.0},
        "shared": {"capex_multiplier": 0.8, "exchange_fee_per_kwh": 0.01},
        "planning": {"storage": "shared", "station": "pooled", "exchange": "p2p",
                     "forbid_simultaneous": True, "days_per_year": 360.0},
    })
    data = system_to_dict(system)
    assert system_from_dict(data) == system
    assert data["tariff"]["price_buy_per_kwh"] == [0.1] * 24 + [0.2] * 24
    assert "path" not in system_to_dict(default_system())["history"]  # None left out
    assert system.planning.architectures == ["pooled+p2p"]


@pytest.mark.parametrize("storage, station, exchange, expected", [
    ("both", "accounts", "none", ["individual", "accounts"]),
    ("both", "pooled", "p2p", ["individual+p2p", "pooled+p2p"]),
    ("none", "accounts", "p2p", ["p2p"]),
    ("none", "pooled", "none", ["none"]),
    ("individual", "pooled", "none", ["individual"]),
    ("shared", "pooled", "none", ["pooled"]),
])
def test_planning_choices_name_the_architectures(storage: str, station: str, exchange: str,
                                                 expected: list[str]) -> None:
    planning = system_from_dict({"microgrid": [{"name": "a"}], "planning": {
        "storage": storage, "station": station, "exchange": exchange}}).planning
    assert planning.architectures == expected
