"""Sharing architectures: names, choices and the storages each one has (no solver)."""

from __future__ import annotations

import pytest

from framework.architecture import (
    ARCHITECTURES,
    LADDER,
    Architecture,
    architecture,
    architectures,
)
from framework.errors import InputError
from framework.results import saving_source


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_every_name_round_trips(name: str) -> None:
    assert architecture(name).name == name


@pytest.mark.parametrize("name, storage, station, exchange, moves", [
    ("none", "none", None, "none", False),
    ("p2p", "none", None, "p2p", True),
    ("individual", "individual", None, "none", False),
    ("individual+p2p", "individual", None, "p2p", True),
    ("accounts", "shared", "accounts", "none", False),
    ("accounts+p2p", "shared", "accounts", "p2p", True),
    ("pooled", "shared", "pooled", "none", True),
    ("pooled+p2p", "shared", "pooled", "p2p", True),
])
def test_names_decode_into_the_two_choices(name: str, storage: str, station: str | None,
                                           exchange: str, moves: bool) -> None:
    arch = architecture(name)
    assert (arch.storage, arch.station, arch.exchange) == (storage, station, exchange)
    assert arch.moves_energy is moves


def test_storages_of_each_architecture() -> None:
    names = ["a", "b"]
    assert architecture("none").storages(names) == {}
    assert architecture("p2p").storages(names) == {}
    assert architecture("individual+p2p").storages(names) == {"a": ("a",), "b": ("b",)}
    assert architecture("pooled").storages(names) == {"station": ("a", "b")}
    assert architecture("accounts").storages(names) == {"station": ("a", "b")}


def test_the_ladder_runs_from_no_storage_to_the_pooled_station() -> None:
    assert LADDER == ("none", "p2p", "individual", "individual+p2p", "accounts",
                      "accounts+p2p", "pooled")


@pytest.mark.parametrize("bad", ["shared", "both", "pooled+grid", "none+p2p", "", "p2p+p2p"])
def test_an_unknown_name_lists_the_valid_ones(bad: str) -> None:
    with pytest.raises(InputError, match="architecture: expected one of .*accounts"):
        architecture(bad)


def test_choices_are_checked() -> None:
    with pytest.raises(InputError, match="station: expected one of"):
        Architecture("shared", "gross")
    with pytest.raises(InputError, match="station: only for storage 'shared'"):
        Architecture("individual", "pooled")
    with pytest.raises(InputError, match="storage: expected one of"):
        architectures("battery")
    assert architectures("both", "pooled", "p2p") == ["individual+p2p", "pooled+p2p"]


@pytest.mark.parametrize("mode, versus, source", [
    ("accounts", "individual", "storage sharing"),
    ("pooled", "individual", "storage sharing and energy exchange"),
    ("accounts+p2p", "individual", "storage sharing and energy exchange"),
    ("accounts+p2p", "individual+p2p", "storage sharing (both exchange energy)"),
    ("pooled+p2p", "individual+p2p", "storage sharing (both exchange energy)"),
    ("p2p", "none", "energy exchange"),
])
def test_every_saving_says_where_it_comes_from(mode: str, versus: str, source: str) -> None:
    assert saving_source(mode, versus) == source


def test_the_saving_of_sharing_with_exchange_is_measured_against_own_batteries_with_it(
) -> None:
    import numpy as np

    from framework.solve.ef import plan_ef
    from tests.framework.conftest import make_scenarios, make_system

    system = make_system([{"name": "mg0", "pv_kw": 10.0}, {"name": "mg1"}],
                         planning={"storage": "both", "station": "pooled", "exchange": "p2p"})
    load = np.array([[[0.0, 5.0], [0.0, 5.0]]])
    pv = np.array([[[1.0, 0.0], [0.0, 0.0]]])
    ds = plan_ef(system, make_scenarios(load, pv_pu=pv), modes=system.planning.architectures)
    assert list(ds["mode"].values) == ["individual+p2p", "pooled+p2p"]
    assert ds.attrs["saving_of_sharing_base"] == "individual+p2p"
    assert ds.attrs["saving_of_sharing_versus"] == "pooled+p2p"
    assert ds.attrs["saving_of_sharing_from"] == "storage sharing (both exchange energy)"
    assert ds.attrs["saving_of_sharing_per_yr"] == pytest.approx(float(
        ds["annual_cost"].sel(mode="individual+p2p") - ds["annual_cost"].sel(mode="pooled+p2p")))
