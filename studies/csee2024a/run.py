"""The three-park case of the 2024 CSEE modelling contest (problem A), as a sesplan study.

Run from the repository root (both are the same)::

    sesplan study studies/csee2024a/study.toml [-o results/csee2024a]
    python studies/csee2024a/run.py [-o results/csee2024a]

``study.toml`` lists every solve as a case of the study runner (results cached by the hash
of their configuration in ``<out>/cases``; ``summary.csv``, ``summary.md`` and figures of the
three-park plans). :func:`report`, the study's report script, turns the case results into
the tables of the contest:

(a) no storage, typical day: daily grid purchase and curtailed PV + wind of parks A, B, C
    alone and of the three parks in joint operation, against the reference table of
    ``README.md``; the joint operation is the three parks, each with its own balance and
    grid connection, exchanging energy directly (architecture ``p2p``, fee 0, no limit);
(b) the optimal battery of each park alone and (c) the contest's fixed 50 kW / 100 kWh
    battery in each park: sizes, annual cost split, daily grid purchase and curtailment;
(d) the ladder of sharing architectures of the three parks
    (:data:`framework.architecture.LADDER`, planned side by side by
    :func:`framework.solve.ef.plan_ef`): annual cost, capacities, exchanged energy,
    equivalent full cycles and the diagnostics' warnings (:func:`table_ladder`);

each for the typical day and for the 12 monthly typical days (probability 1/12 each). It
writes ``<out>/tables.md`` and ``<out>/summary.json``.

The systems are the TOML files beside this script (typical day); the monthly-days and
no-storage versions are overrides in ``study.toml``, and :func:`variant` builds the same
systems in Python. The days files are made by ``make_data.py``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import xarray as xr

from framework.errors import InputError
from framework.results import summary
from framework.study import StudyResult, run_study
from framework.system import System, load_system, system_from_dict, system_to_dict

HERE = Path(__file__).resolve().parent
PARKS = ("A", "B", "C")
SYSTEMS = ("park_A", "park_B", "park_C", "three_parks")
DAYS = ("typical", "monthly")
DAYS_FILES = {"typical": "data/typical_day.csv", "monthly": "data/monthly_days.csv"}
DAYS_LABEL = {"typical": "typical day", "monthly": "12 monthly typical days (1/12 each)"}

REFERENCE = {  # README.md: no storage, typical day (kWh/day)
    "A": {"grid_kwh": 4874.12, "curtailed_kwh": 951.20},
    "B": {"grid_kwh": 2432.30, "curtailed_kwh": 897.50},
    "C": {"grid_kwh": 2699.39, "curtailed_kwh": 1128.02},
    "joint": {"grid_kwh": 8266.27, "curtailed_kwh": 1237.17},
}
JOINT = "p2p"  # the contest's joint operation without storage, among the three parks' rungs
FIXED_ENERGY_KWH = 100.0  # question 1 (2) of the contest: 50 kW / 100 kWh in each park
FIXED_POWER_KW = 50.0
STORAGE_LABELS = {"no_storage": "none", "optimal": "optimal", "fixed": "fixed_50kW_100kWh"}


# --- systems -------------------------------------------------------------------------------

def variant(name: str, days: str = "typical", **planning: Any) -> System:
    """System ``name`` (a TOML file here) on the ``days`` set, with ``[planning]`` keys
    (``storage``, ``station``, ``exchange``) replaced by ``planning``.

    ``variant("park_A", storage="none")`` is park A without storage, as the ``none`` cases of
    ``study.toml``.
    """
    if name not in SYSTEMS:
        raise InputError(f"system: expected one of {SYSTEMS}, got {name!r}")
    if days not in DAYS:
        raise InputError(f"days: expected one of {DAYS}, got {days!r}")
    path = HERE / f"{name}.toml"
    data = system_to_dict(load_system(path))
    data["history"]["path"] = DAYS_FILES[days]
    data["planning"].update(planning)
    suffix = "" if days == "typical" else f"-{days}"
    if planning:
        suffix += "-" + "-".join(str(v) for v in planning.values())
    data["name"] = f"{data['name']}{suffix}"
    return system_from_dict(data, where=str(path), base_dir=HERE)


def fixed_plan(parks: tuple[str, ...], energy_kwh: float, power_kw: float
               ) -> dict[str, dict[str, float]]:
    """``fixed_capacity`` for a battery of the same size in each park."""
    return {"cap_energy_kwh": {p: energy_kwh for p in parks},
            "cap_power_kw": {p: power_kw for p in parks}}


# --- numbers of a result -------------------------------------------------------------------

def only_mode(ds: xr.Dataset) -> str:
    """The architecture of a one-architecture result (a park case)."""
    modes = [str(m) for m in ds["mode"].values]
    if len(modes) != 1:
        raise InputError(f"expected the result of one architecture, got {modes}")
    return modes[0]


def daily_kwh(ds: xr.Dataset, name: str, mode: str) -> float:
    """Expected daily energy of a power variable, summed over microgrids (kWh/day)."""
    step_h = float(json.loads(ds.attrs["config"])["history"]["step_h"])
    r = ds[name].sel(mode=mode)
    return float((ds["probability"] * r.sum(("step", "microgrid")) * step_h).sum("scenario"))


def numbers(ds: xr.Dataset, mode: str) -> dict[str, Any]:
    """Sizes, annual cost split, daily energies, exchange, cycles and warnings of one
    architecture."""
    s = summary(ds)["modes"][mode]
    r = ds.sel(mode=mode)
    days_per_year = float(json.loads(ds.attrs["config"])["planning"]["days_per_year"])
    split = s["annual_cost_split"]
    other = sum(v for k, v in split.items() if k not in ("capex", "energy", "renewables"))
    warnings = str(r["warnings"].values)
    return {
        "energy_kwh": s["total_energy_kwh"], "power_kw": s["total_power_kw"],
        "cap_energy_kwh": s["cap_energy_kwh"], "cap_power_kw": s["cap_power_kw"],
        "capex_per_yr": split["capex"], "grid_per_yr": split["energy"],
        "renewables_per_yr": split["renewables"], "other_per_yr": other,
        "annual_cost": s["annual_cost"],
        "grid_kwh_per_day": daily_kwh(ds, "grid_import_kw", mode),
        "curtailed_kwh_per_day": daily_kwh(ds, "curtailed_kw", mode),
        "shed_kwh_per_yr": s["kpis"]["shed_kwh_per_yr"],
        "exchanged_kwh_per_day": float(r["exchanged_kwh_per_yr"]) / days_per_year,
        "exchange_station_kwh_per_day": float(r["exchange_station_kwh_per_yr"]) / days_per_year,
        "exchange_p2p_kwh_per_day": float(r["exchange_p2p_kwh_per_yr"]) / days_per_year,
        "cycles_per_yr": {k: float(r["equivalent_full_cycles_per_yr"].sel(storage=k))
                          for k in s["cap_energy_kwh"]},
        "warnings": warnings.splitlines() if warnings else [],
    }


def case(result: StudyResult, name: str, days: str, storage: str = "optimal") -> xr.Dataset:
    """The result of system ``name`` on ``days``: a park with ``storage`` (no_storage,
    optimal, fixed), or the three parks under every architecture of the ladder."""
    if name.startswith("park_"):
        return result.dataset("park", system=f"{name}.toml", days=days,
                              storage=STORAGE_LABELS[storage])
    return result.dataset("three_parks", days=days)


# --- the four parts ------------------------------------------------------------------------

def reference_check(result: StudyResult) -> list[dict[str, Any]]:
    """(a) No storage, typical day: model vs. the reference table."""
    rows = []
    for park in (*PARKS, "joint"):
        if park == "joint":
            label, ds, mode = "A+B+C joint (p2p)", case(result, "three_parks", "typical"), JOINT
        else:
            label, ds = f"{park} alone", case(result, f"park_{park}", "typical", "no_storage")
            mode = only_mode(ds)
        f = numbers(ds, mode)
        ref = REFERENCE[park]
        rows.append({"case": label, "grid_kwh": f["grid_kwh_per_day"],
                     "grid_ref": ref["grid_kwh"], "curtailed_kwh": f["curtailed_kwh_per_day"],
                     "curtailed_ref": ref["curtailed_kwh"]})
    return rows


def parks(result: StudyResult, days: str) -> dict[str, Any]:
    """(b, c) Each park alone: no storage, the fixed 50 kW / 100 kWh, the optimal battery;
    and their sums over the three parks (``total``)."""
    out: dict[str, Any] = {}
    for park in PARKS:
        out[park] = {}
        for key in STORAGE_LABELS:
            ds = case(result, f"park_{park}", days, key)
            out[park][key] = numbers(ds, only_mode(ds))
    out["total"] = {key: _total([out[p][key] for p in PARKS]) for key in STORAGE_LABELS}
    return out


def ladder(ds: xr.Dataset) -> dict[str, dict[str, Any]]:
    """(d) The numbers of every architecture of a result planned along the ladder."""
    return {str(mode): numbers(ds, str(mode)) for mode in ds["mode"].values}


def _total(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("energy_kwh", "power_kw", "capex_per_yr", "grid_per_yr", "renewables_per_yr",
            "other_per_yr", "annual_cost", "grid_kwh_per_day", "curtailed_kwh_per_day",
            "shed_kwh_per_yr")
    return {k: sum(r[k] for r in rows) for k in keys}


# --- tables --------------------------------------------------------------------------------

def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def table_reference(rows: list[dict[str, Any]]) -> str:
    body = [[r["case"], f"{r['grid_kwh']:.2f}", f"{r['grid_ref']:.2f}",
             f"{r['grid_kwh'] - r['grid_ref']:+.3f}", f"{r['curtailed_kwh']:.2f}",
             f"{r['curtailed_ref']:.2f}", f"{r['curtailed_kwh'] - r['curtailed_ref']:+.3f}"]
            for r in rows]
    return _table(["case", "grid purchase (kWh/day)", "reference", "diff",
                   "curtailed PV+wind (kWh/day)", "reference", "diff"], body)


def _money(x: float) -> str:
    """Whole currency units with thousands separators (no "-0")."""
    return f"{round(x):,}"


def _num(x: float, digits: int) -> str:
    """A non-negative size, with solver noise around 0 shown as 0."""
    return f"{max(x, 0.0) + 0.0:.{digits}f}"


def _ratio(f: dict[str, Any]) -> str:
    return f"{f['energy_kwh'] / f['power_kw']:.2f}" if f["power_kw"] > 1e-6 else "-"


PARKS_HEADER = ["case", "E (kWh)", "P (kW)", "E/P (h)", "capex (CNY/yr)", "grid (CNY/yr)",
                "PV+wind (CNY/yr)", "annual cost (CNY/yr)", "saving vs no storage (CNY/yr)",
                "grid purchase (kWh/day)", "curtailed (kWh/day)"]
PARKS_ROWS = {"no_storage": "no storage", "fixed": "50 kW / 100 kWh", "optimal": "optimal battery"}


def table_parks(p: dict[str, Any]) -> str:
    """(b, c) Each park alone and the sums over the three parks."""
    rows = []
    for park in (*PARKS, "total"):
        base = p[park]["no_storage"]
        name = "A+B+C" if park == "total" else f"{park} alone"
        for key, label in PARKS_ROWS.items():
            f = p[park][key]
            rows.append([f"{name}, {label}", _num(f["energy_kwh"], 2), _num(f["power_kw"], 2),
                         _ratio(f), _money(f["capex_per_yr"]), _money(f["grid_per_yr"]),
                         _money(f["renewables_per_yr"]), _money(f["annual_cost"]),
                         _money(base["annual_cost"] - f["annual_cost"]),
                         f"{f['grid_kwh_per_day']:.1f}", f"{f['curtailed_kwh_per_day']:.1f}"])
    return _table(PARKS_HEADER, rows)


LADDER_HEADER = ["architecture", "storage built: E (kWh) / P (kW)", "annual cost (CNY/yr)",
                 "saving vs none (CNY/yr)", "capex (CNY/yr)", "grid purchase (kWh/day)",
                 "curtailed (kWh/day)", "exchanged (kWh/day)", "cycles (1/yr)", "warnings"]


def _per_storage(values: dict[str, float], fmt: str) -> str:
    return ", ".join(f"{k} {fmt.format(max(v, 0.0) + 0.0)}" for k, v in values.items()) or "-"


def _exchanged(f: dict[str, Any]) -> str:
    if f["exchanged_kwh_per_day"] <= 1e-6:
        return "0"
    via = [name for name, key in (("p2p", "exchange_p2p_kwh_per_day"),
                                  ("station bus", "exchange_station_kwh_per_day"))
           if f[key] > 1e-6]
    return f"{f['exchanged_kwh_per_day']:,.1f} ({' + '.join(via)})"


def table_ladder(rungs: dict[str, dict[str, Any]]) -> str:
    """(d) One row per architecture; savings against ``none`` (no storage, no exchange)."""
    base = rungs["none"]["annual_cost"]
    rows = []
    for mode, f in rungs.items():
        built = {k: f"{_num(f['cap_energy_kwh'][k], 2)} / {_num(f['cap_power_kw'][k], 2)}"
                 for k in f["cap_energy_kwh"]}
        rows.append([mode, ", ".join(f"{k} {v}" for k, v in built.items()) or "-",
                     _money(f["annual_cost"]), _money(base - f["annual_cost"]),
                     _money(f["capex_per_yr"]), f"{f['grid_kwh_per_day']:.2f}",
                     f"{f['curtailed_kwh_per_day']:.2f}", _exchanged(f),
                     _per_storage(f["cycles_per_yr"], "{:.0f}"),
                     "; ".join(f["warnings"]) or "-"])
    return _table(LADDER_HEADER, rows)


COST_NOTE = ("Annual cost (capex: 1/10 of the investment per year; operation: 365 days) and "
             "daily energy:")
LADDER_NOTE = ("The three parks, each with its own grid connection, under every sharing "
               "architecture (exchange fee 0, no p2p or station connection limit); storage "
               "built per storage (a park's battery, or the shared `station`); exchanged: "
               "the least energy any optimum moves between parks (directly, p2p, or through "
               "the pooled station's bus in the same hour); cycles: equivalent full cycles "
               "at the cells per year.")


def render(data: dict[str, Any]) -> str:
    parts = ["# CSEE 2024 problem A: three industrial parks, storage and energy sharing", "",
             "## (a) No storage, typical day: model vs. reference", "",
             table_reference(data["reference_check"]), ""]
    for days in DAYS:
        parts += [f"## (b, c) Each park alone, {DAYS_LABEL[days]}", "", COST_NOTE, "",
                  table_parks(data["parks"][days]), "",
                  f"## (d) The ladder of sharing architectures, {DAYS_LABEL[days]}", "",
                  LADDER_NOTE, "", table_ladder(data["ladder"][days]), ""]
    return "\n".join(parts)


def collect(result: StudyResult) -> dict[str, Any]:
    """The data behind the tables, from the study's case results."""
    data: dict[str, Any] = {"reference_check": reference_check(result),
                            "parks": {days: parks(result, days) for days in DAYS},
                            "ladder": {days: ladder(case(result, "three_parks", days))
                                       for days in DAYS}}
    data["results"] = {o.case.name: summary(result.dataset(o.case.base, **o.case.labels))
                       for o in result.outcomes}
    return data


def report(result: StudyResult) -> dict[str, str]:
    """The study's report (``outputs.report``): ``tables.md`` and ``summary.json``."""
    data = collect(result)
    return {"tables.md": render(data) + "\n",
            "summary.json": json.dumps(data, indent=2, sort_keys=True) + "\n"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=Path("results/csee2024a"),
                        help="output folder (default: results/csee2024a)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every solve")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    result = run_study(HERE / "study.toml", args.out)
    if result.failed:
        print(f"failed cases: {result.failed} (see {args.out / 'summary.md'})", file=sys.stderr)
        return 1
    print((args.out / "tables.md").read_text(encoding="utf-8"))
    print(f"wrote {args.out / 'tables.md'}, {args.out / 'summary.json'}, "
          f"{args.out / 'summary.md'} and {len(result.outcomes)} case results in "
          f"{args.out / 'cases'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
