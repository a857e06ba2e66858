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
