"""Sharing architectures: who owns storage, how a shared station keeps energy, and whether
microgrids exchange energy directly.

Two independent choices (``docs/formulation.md``, "Sharing architectures"):

- *storage*: ``none``, ``individual`` (a battery per microgrid) or ``shared`` (one station);
  a shared *station* keeps each microgrid's energy in its own ``accounts`` or in one
  ``pooled`` state of charge whose cells see the net flow at the station's bus;
- *exchange*: ``none``, or ``p2p`` (energy traded directly between microgrids in each step).

An architecture is named by one word, its storage (``none``, ``individual``, ``accounts``,
``pooled``), with ``+p2p`` when microgrids also exchange directly; ``p2p`` alone is exchange
without storage. These names label the ``mode`` dimension of every result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from framework.errors import InputError

STORAGES = ("none", "individual", "shared")
STATIONS = ("accounts", "pooled")
EXCHANGES = ("none", "p2p")
STATION = "station"

#: Every architecture, in the order of the ladder of ``sesplan plan --compare``.
LADDER = ("none", "p2p", "individual", "individual+p2p", "accounts", "accounts+p2p", "pooled")
ARCHITECTURES = (*LADDER, "pooled+p2p")


@dataclass(frozen=True)
class Architecture:
    """One sharing architecture.

    Attributes
    ----------
    storage : {"none", "individual", "shared"}
    station : {"accounts", "pooled"}
        How the shared station keeps energy; ``None`` unless ``storage == "shared"``.
    exchange : {"none", "p2p"}
    """

    storage: str
    station: str | None = None
    exchange: str = "none"

    def __post_init__(self) -> None:
        if self.storage not in STORAGES:
            raise InputError(f"storage: expected one of {STORAGES}, got {self.storage!r}")
        if self.storage == "shared" and self.station not in STATIONS:
            raise InputError(f"station: expected one of {STATIONS}, got {self.station!r}")
        if self.storage != "shared" and self.station is not None:
            raise InputError(f"station: only for storage 'shared', got {self.station!r}")
        if self.exchange not in EXCHANGES:
            raise InputError(f"exchange: expected one of {EXCHANGES}, got {self.exchange!r}")

    @property
    def name(self) -> str:
        """``individual``, ``accounts+p2p``, ``p2p`` (exchange only), ..."""
        base = self.station if self.storage == "shared" else self.storage
        if self.exchange == "none":
            return base
        return "p2p" if base == "none" else f"{base}+{self.exchange}"

    @property
    def shared(self) -> bool:
        return self.storage == "shared"

    @property
    def pooled(self) -> bool:
        return self.station == "pooled"

    @property
    def p2p(self) -> bool:
        return self.exchange == "p2p"

    @property
    def moves_energy(self) -> bool:
        """Energy can pass from one microgrid to another (pooled bus or p2p)."""
        return self.pooled or self.p2p

    def storages(self, microgrids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """The storages and the microgrids each one serves: none; one battery per microgrid,
        named after it; or one ``station`` serving all."""
        if self.storage == "individual":
            return {name: (name,) for name in microgrids}
        if self.storage == "shared":
            return {STATION: tuple(microgrids)}
        return {}


def architecture(name: str | Architecture) -> Architecture:
    """The :class:`Architecture` of a name such as ``accounts+p2p`` (see :data:`ARCHITECTURES`)."""
    if isinstance(name, Architecture):
        return name
    base, _, exchange = str(name).partition("+")
    if base == "p2p" and not exchange:
        return Architecture("none", exchange="p2p")
    if base not in ("none", "individual", *STATIONS) or exchange not in ("", "p2p") \
            or (base == "none" and exchange):
        raise InputError(f"architecture: expected one of {list(ARCHITECTURES)}, got {name!r}")
    if base in STATIONS:
        return Architecture("shared", base, exchange or "none")
    return Architecture(base, exchange=exchange or "none")


def architectures(storage: str, station: str = "accounts", exchange: str = "none") -> list[str]:
    """The architecture names of the two choices; ``storage = "both"`` gives ``individual``
    and the shared station side by side (each with the same exchange)."""
    kinds = ["individual", "shared"] if storage == "both" else [storage]
    if storage not in (*STORAGES, "both"):
        raise InputError(f"storage: expected one of {[*STORAGES, 'both']}, got {storage!r}")
    return [Architecture(kind, station if kind == "shared" else None, exchange).name
            for kind in kinds]
