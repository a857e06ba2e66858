"""The ladder of sharing architectures and the decomposition of the saving of sharing.

:func:`solve_ladder` solves the extensive form of every rung of
:data:`framework.architecture.LADDER` (``none``, ``p2p``, ``individual``, ``individual+p2p``,
``accounts``, ``accounts+p2p``, ``pooled``) and puts the results side by side;
:func:`decompose` splits the saving ``S = cost(individual) - cost(pooled)`` into *storage
sharing* and *energy exchange* (``docs/formulation.md``, "Decomposition of the saving"):

- storage first (individual -> accounts -> pooled): storage sharing
  ``cost(individual) - cost(accounts)``, exchange ``cost(accounts) - cost(pooled)``;
- exchange first (individual -> individual+p2p -> pooled): exchange
  ``cost(individual) - cost(individual+p2p)``, storage sharing
  ``cost(individual+p2p) - cost(pooled)``;
- order-free: the average of the two orders (the Shapley value of the two features), which
  sums to ``S``.

A share can be negative (a positive exchange fee, a binding bound); it is reported as it is.
:func:`ladder_summary` (for ``--json``) and :func:`ladder_table` (markdown and words) only
read a result; ``sesplan plan --compare`` prints them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import xarray as xr

from framework.architecture import LADDER
from framework.errors import InputError
from framework.results import combine_modes, summary
from framework.solve.ef import solve_ef
from framework.system import System

#: The rungs the decomposition needs.
DECOMPOSITION_RUNGS = ("individual", "accounts", "individual+p2p", "pooled")
STORAGE = "saving_from_storage_sharing_per_yr"
EXCHANGE = "saving_from_exchange_per_yr"
#: The one-order splits: key, the middle rung, and which feature comes first.
ORDERS = (("split_storage_first", "accounts", STORAGE),
          ("split_exchange_first", "individual+p2p", EXCHANGE))
LABELS = {STORAGE: "storage sharing", EXCHANGE: "energy exchange"}
#: Relative size of a share that is the solver's tolerance, not a cost (the least-exchange
#: solve holds the cost within 1e-9 of its optimum).
NOISE = 1e-8


def solve_ladder(system: System, scenarios: xr.Dataset, modes: Sequence[str] = LADDER, *,
                 solved: xr.Dataset | None = None, **solve_kwargs: Any) -> xr.Dataset:
    """Solve :func:`framework.solve.ef.solve_ef` for every rung and combine the results.

    Parameters
    ----------
    modes : sequence of str
        The rungs (default :data:`framework.architecture.LADDER`).
    solved : xr.Dataset, optional
        Rungs already solved by the extensive form for the same system and scenarios (a
        result of :func:`~framework.solve.ef.plan_ef`): those are taken from it, not solved
        again.
    **solve_kwargs
        Passed to :func:`~framework.solve.ef.solve_ef` (``time_limit_s``, ...).

    Returns
    -------
    xr.Dataset
        The results along ``mode`` (:func:`framework.results.combine_modes`); when the rungs
        of :data:`DECOMPOSITION_RUNGS` are present, the attributes hold the decomposition
        (:func:`decomposition_attrs`).
    """
    have = [] if solved is None else [str(m) for m in solved["mode"].values]
    ds = combine_modes([_rung(solved, mode) if mode in have
                        else solve_ef(system, scenarios, mode, **solve_kwargs)
                        for mode in modes])
    if has_ladder(ds):
        ds.attrs.update(decomposition_attrs(decompose(ds)))
    return ds


def _rung(solved: xr.Dataset, mode: str) -> xr.Dataset:
    """One rung of a result, without the attributes of its comparison of two modes."""
    ds = solved.sel(mode=[mode])
    ds.attrs = {k: v for k, v in solved.attrs.items() if not k.startswith("saving_of_")}
    return ds


def has_ladder(ds: xr.Dataset) -> bool:
    """Whether a result holds the rungs that the decomposition needs."""
    return "mode" in ds.dims and "annual_cost" in ds and set(DECOMPOSITION_RUNGS) <= {
        str(m) for m in ds["mode"].values}


def decompose(ds: xr.Dataset) -> dict[str, Any]:
    """Split the saving of the pooled station against individual batteries.

    Returns
    -------
    dict
        ``saving_per_yr`` (``S``); the order-free ``saving_from_storage_sharing_per_yr`` and
        ``saving_from_exchange_per_yr`` (the average of the two orders; they sum to ``S``);
        ``split_storage_first`` and ``split_exchange_first``, each with the same two keys.
    """
    if not has_ladder(ds):
        have = [str(m) for m in ds["mode"].values] if "mode" in ds.dims else []
        raise InputError(f"decomposition: needs the rungs {list(DECOMPOSITION_RUNGS)}, the "
                         f"result has {have} (sesplan plan --compare)")
    cost = {m: float(ds["annual_cost"].sel(mode=m)) for m in DECOMPOSITION_RUNGS}
    saving = cost["individual"] - cost["pooled"]
    out: dict[str, Any] = {"saving_per_yr": saving}
    for key, middle, first in ORDERS:
        second = EXCHANGE if first == STORAGE else STORAGE
        out[key] = {first: cost["individual"] - cost[middle],
                    second: cost[middle] - cost["pooled"]}
    for share in (STORAGE, EXCHANGE):
        out[share] = 0.5 * sum(out[key][share] for key, _, _ in ORDERS)
    return out


def decomposition_attrs(parts: dict[str, Any]) -> dict[str, float]:
    """The decomposition as flat NetCDF attributes: ``ladder_saving_per_yr``,
    ``ladder_saving_from_*_per_yr`` and ``ladder_split_<order>_<share>``."""
    out = {f"ladder_{k}": float(v) for k, v in parts.items() if not isinstance(v, dict)}
    for key, _, _ in ORDERS:
        out.update({f"ladder_{key}_{share}": float(v) for share, v in parts[key].items()})
    return out


def ladder_summary(ds: xr.Dataset) -> dict[str, Any]:
    """The ladder as plain Python values (``sesplan plan --compare --json``).

    Per rung (``rungs``): ``annual_cost``, ``saving_vs_individual_per_yr``,
    ``total_energy_kwh``, ``total_power_kw``, the capacities of the storages built,
    ``equivalent_full_cycles_per_yr`` (per storage built, at the cells), the energy exchanged
    (``exchange_station_kwh_per_yr``, ``exchange_p2p_kwh_per_yr``,
    ``exchanged_kwh_per_yr``), ``warnings`` and ``certified`` (with the reason when not,
    :func:`framework.results.certification`); then the keys of :func:`decompose`, which
    are certified only where every rung is (top-level ``certified``).
    """
    parts = decompose(ds)
    s = summary(ds)
    base = s["modes"]["individual"]["annual_cost"]
    rungs = {}
    for mode, r in s["modes"].items():
        diag = r["diagnostics"]
        rungs[mode] = {
            "annual_cost": r["annual_cost"],
            "saving_vs_individual_per_yr": base - r["annual_cost"],
            "total_energy_kwh": r["total_energy_kwh"],
            "total_power_kw": r["total_power_kw"],
            "cap_energy_kwh": r["cap_energy_kwh"],
            "cap_power_kw": r["cap_power_kw"],
            "equivalent_full_cycles_per_yr": diag.get("equivalent_full_cycles_per_yr", {}),
            **{k: diag.get(k, 0.0) for k in ("exchange_station_kwh_per_yr",
                                             "exchange_p2p_kwh_per_yr",
                                             "exchanged_kwh_per_yr")},
            "warnings": diag.get("warnings", []),
            "certified": r["certified"],
            **({} if r["certified"] else {"not_certified_because": r["not_certified_because"]}),
        }
    return {"method": s["method"], "certified": s["certified"], "rungs": rungs, **parts}


def format_cost(value: float, scale: float) -> str:
    """A cost with thousands separators; two decimals when the costs (``scale``, the
    largest) are below 100; never ``-0``."""
    digits = 0 if scale >= 100 else 2
    return f"{round(value, digits) + 0.0:,.{digits}f}"


def _quantity(value: float) -> str:
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"


def _cycles(rung: dict[str, Any]) -> str:
    """Cycles of the rung's storages at the cells: total cell discharge over total usable
    energy (each storage's cycles weighted by its energy capacity); ``-`` if none built."""
    cycles, energy = rung["equivalent_full_cycles_per_yr"], rung["cap_energy_kwh"]
    total = sum(energy.get(k, 0.0) for k in cycles)
    if total <= 1e-9:
        return "-"
    return _quantity(sum(c * energy.get(k, 0.0) for k, c in cycles.items()) / total)


def ladder_table(ds: xr.Dataset) -> str:
    """A markdown table of the rungs, then in words where the saving comes from.

    One row per rung: annual cost, saving against individual batteries, storage energy and
    power, equivalent full cycles per year at the cells (capacity-weighted over the
    storages), energy exchanged between microgrids (MWh/yr, station bus and p2p) and a
    marker ``[n]`` for each warning, listed below the words.
    """
    s = ladder_summary(ds)
    scale = max(abs(r["annual_cost"]) for r in s["rungs"].values())
    lines = [("| architecture | annual cost | saving vs individual | energy (kWh) | power (kW) "
              "| cycles/yr | exchanged (MWh/yr) | warnings |"), "|---|" + "---:|" * 6 + "---|"]
    notes: list[str] = []
    for mode, r in s["rungs"].items():
        marks = []
        reasons = [] if r["certified"] else [f"NOT CERTIFIED: {r['not_certified_because']}"]
        for warning in reasons + r["warnings"]:
            notes.append(f"[{len(notes) + 1}] {mode}: {warning}")
            marks.append(f"[{len(notes)}]")
        lines.append(
            f"| {mode} | {format_cost(r['annual_cost'], scale)} | "
            f"{format_cost(r['saving_vs_individual_per_yr'], scale)} | "
            f"{_quantity(r['total_energy_kwh'])} | {_quantity(r['total_power_kw'])} | "
            f"{_cycles(r)} | {_quantity(r['exchanged_kwh_per_yr'] / 1000.0)} | "
            f"{' '.join(marks) or '-'} |")
    words = ladder_words(s, scale) + ("" if s["certified"] else
                                      " NOT CERTIFIED: a rung's cost is not proven optimal.")
    return "\n".join(lines) + "\n\n" + words + "".join(f"\n{note}" for note in notes)


def ladder_words(s: dict[str, Any], scale: float | None = None) -> str:
    """Two or three sentences on where the saving comes from (of :func:`ladder_summary`
    or :func:`decompose`)."""
    if scale is None:
        scale = abs(s["saving_per_yr"])
    saving = s["saving_per_yr"]

    def amount(value: float) -> str:
        return format_cost(value, scale)

    def part(key: str) -> str:
        share = f" ({s[key] / saving:.0%})" if abs(saving) > 1e-9 else ""
        return f"{amount(s[key])}{share}"

    verb = "saves against" if saving >= 0 else "costs more than"
    words = (f"Of the {amount(abs(saving))}/yr that the pooled station {verb} individual "
             f"batteries, {part(STORAGE)} is {LABELS[STORAGE]} and {part(EXCHANGE)} "
             f"{LABELS[EXCHANGE]} (average of both orders).")
    first, second = (s[key] for key, _, _ in ORDERS)
    words += (f" Storage first (individual -> accounts -> pooled): {LABELS[STORAGE]} "
              f"{amount(first[STORAGE])}, {LABELS[EXCHANGE]} {amount(first[EXCHANGE])}; "
              f"exchange first (individual -> individual+p2p -> pooled): {LABELS[EXCHANGE]} "
              f"{amount(second[EXCHANGE])}, {LABELS[STORAGE]} {amount(second[STORAGE])}.")
    if min(v for split in (first, second) for v in split.values()) < -NOISE * max(1.0, scale):
        words += (" A negative share means that step of the ladder costs more (exchange fees, "
                  "or a binding bound).")
    return words
