"""The three-park case of the 2024 CSEE modelling contest (problem A), as a sesplan study.

Run from the repository root (both are the same)::

    sesplan study studies/csee2024a/study.toml [-o results/csee2024a]
    python studies/csee2024a/run.py [-o results/csee2024a]

``study.toml`` lists every solve as a case of the study runner (results cached by the hash
of their configuration in ``<out>/cases``; ``summary.csv``, ``summary.md`` and figures of the
three-park plans). :func:`report`, the study's report script, turns the case results into
the tables of the contest:

(a) no storage, typical day: daily grid purchase and curtailed PV + wind of parks A, B, C
    alone and of the three parks in joint operation (one power balance), against the
    reference table of ``README.md``;
(b) the optimal battery of each park alone, the optimal shared station of the three parks
    (each park keeps its own grid connection; energy between parks passes through the
    station) and the optimal storage of the joint operation, for the typical day and for
    the 12 monthly typical days (probability 1/12 each): sizes, annual cost split, daily
    grid purchase and curtailment;
(c) the contest's fixed 50 kW / 100 kWh battery in each park.

It writes ``<out>/tables.md`` and ``<out>/summary.json``.

The systems are the TOML files beside this script (typical day, storage allowed); the
monthly-days and no-storage versions are overrides in ``study.toml``, and :func:`variant`
builds the same systems in Python. The days files are made by ``make_data.py``.
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
SYSTEMS = ("park_A", "park_B", "park_C", "three_parks", "joint")
DAYS = ("typical", "monthly")
DAYS_FILES = {  # the days file of each system, per day set (relative to HERE)
    "typical": {"three_parks": "data/typical_day.csv", "joint": "data/joint_typical_day.csv"},
    "monthly": {"three_parks": "data/monthly_days.csv", "joint": "data/joint_monthly_days.csv"},
}
DAYS_LABEL = {"typical": "typical day", "monthly": "12 monthly typical days (1/12 each)"}

REFERENCE = {  # README.md: no storage, typical day (kWh/day)
    "A": {"grid_kwh": 4874.12, "curtailed_kwh": 951.20},
    "B": {"grid_kwh": 2432.30, "curtailed_kwh": 897.50},
    "C": {"grid_kwh": 2699.39, "curtailed_kwh": 1128.02},
    "joint": {"grid_kwh": 8266.27, "curtailed_kwh": 1237.17},
}
FIXED_ENERGY_KWH = 100.0  # question 1 (2) of the contest: 50 kW / 100 kWh in each park
FIXED_POWER_KW = 50.0
STORAGE_LABELS = {"no_storage": "none", "optimal": "optimal", "fixed": "fixed_50kW_100kWh"}

log = logging.getLogger("csee2024a")


# --- systems -------------------------------------------------------------------------------

def variant(name: str, days: str = "typical", storage: bool = True) -> System:
    """System ``name`` (a TOML file here) on the ``days`` set, with or without storage.

    ``storage=False`` bounds both capacities to 0 (``energy_max_kwh = power_max_kw = 0``),
    as the ``none`` cases of ``study.toml`` do.
    """
    if name not in SYSTEMS:
        raise InputError(f"system: expected one of {SYSTEMS}, got {name!r}")
    if days not in DAYS:
        raise InputError(f"days: expected one of {DAYS}, got {days!r}")
    path = HERE / f"{name}.toml"
    data = system_to_dict(load_system(path))
    data["history"]["path"] = DAYS_FILES[days]["joint" if name == "joint" else "three_parks"]
    if not storage:
        data["storage"].update(energy_max_kwh=0.0, power_max_kw=0.0)
    suffix = ("" if days == "typical" else f"-{days}") + ("" if storage else "-no-storage")
    data["name"] = f"{data['name']}{suffix}"
    return system_from_dict(data, where=str(path), base_dir=HERE)


def fixed_plan(parks: tuple[str, ...], energy_kwh: float, power_kw: float
               ) -> dict[str, dict[str, float]]:
    """``fixed_capacity`` for a battery of the same size in each park."""
    return {"cap_energy_kwh": {p: energy_kwh for p in parks},
            "cap_power_kw": {p: power_kw for p in parks}}


# --- numbers of a result -------------------------------------------------------------------

def daily_kwh(ds: xr.Dataset, name: str, mode: str) -> float:
    """Expected daily energy of a power variable, summed over microgrids (kWh/day)."""
    step_h = float(json.loads(ds.attrs["config"])["history"]["step_h"])
    r = ds[name].sel(mode=mode)
    return float((ds["probability"] * r.sum(("step", "microgrid")) * step_h).sum("scenario"))


def numbers(ds: xr.Dataset, mode: str) -> dict[str, Any]:
    """Sizes, annual cost split, daily grid purchase and curtailment of one mode."""
    s = summary(ds)["modes"][mode]
    split = s["annual_cost_split"]
    other = sum(v for k, v in split.items() if k not in ("capex", "energy", "renewables"))
    return {
        "energy_kwh": s["total_energy_kwh"], "power_kw": s["total_power_kw"],
        "cap_energy_kwh": s["cap_energy_kwh"], "cap_power_kw": s["cap_power_kw"],
        "capex_per_yr": split["capex"], "grid_per_yr": split["energy"],
        "renewables_per_yr": split["renewables"], "other_per_yr": other,
        "annual_cost": s["annual_cost"],
        "grid_kwh_per_day": daily_kwh(ds, "grid_import_kw", mode),
        "curtailed_kwh_per_day": daily_kwh(ds, "curtailed_kw", mode),
        "shed_kwh_per_yr": s["kpis"]["shed_kwh_per_yr"],
    }


def case(result: StudyResult, name: str, days: str, storage: str = "optimal") -> xr.Dataset:
    """The result of system ``name`` on ``days`` with ``storage`` (no_storage, optimal, fixed)
    from the study's cases."""
    label = STORAGE_LABELS[storage]
    if name.startswith("park_"):
        return result.dataset("park", system=f"{name}.toml", days=days, storage=label)
    if name == "joint":
        return result.dataset("joint", days=days, storage=label)
    return result.dataset("three_parks", days=days)


# --- the three parts -----------------------------------------------------------------------

def reference_check(result: StudyResult) -> list[dict[str, Any]]:
    """(a) No storage, typical day: model vs. the reference table."""
    rows = []
    for park in (*PARKS, "joint"):
        name = "joint" if park == "joint" else f"park_{park}"
        f = numbers(case(result, name, "typical", "no_storage"), "individual")
        ref = REFERENCE[park]
        rows.append({"case": "A+B+C joint" if park == "joint" else f"{park} alone",
                     "grid_kwh": f["grid_kwh_per_day"], "grid_ref": ref["grid_kwh"],
                     "curtailed_kwh": f["curtailed_kwh_per_day"],
                     "curtailed_ref": ref["curtailed_kwh"]})
    return rows


def planning(result: StudyResult, days: str) -> dict[str, Any]:
    """(b) No storage, optimal battery per park, optimal shared station, joint operation."""
    out: dict[str, Any] = {"parks": {}}
    for park in PARKS:
        name = f"park_{park}"
        out["parks"][park] = {
            "no_storage": numbers(case(result, name, days, "no_storage"), "individual"),
            "optimal": numbers(case(result, name, days), "individual"),
        }
    shared = case(result, "three_parks", days)
    out["three_parks_individual"] = numbers(shared, "individual")
    out["shared"] = numbers(shared, "shared")
    out["joint"] = {
        "no_storage": numbers(case(result, "joint", days, "no_storage"), "individual"),
        "optimal": numbers(case(result, "joint", days), "individual"),
    }
    for key in ("no_storage", "optimal"):
        out[f"parks_{key}"] = _total([out["parks"][p][key] for p in PARKS])
    return out


def fixed_case(result: StudyResult, days: str) -> dict[str, Any]:
    """(c) 50 kW / 100 kWh in each park, dispatch optimised."""
    out = {park: numbers(case(result, f"park_{park}", days, "fixed"), "individual")
           for park in PARKS}
    out["total"] = _total(list(out.values()))
    return out


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


def _row(label: str, f: dict[str, Any], base: dict[str, Any]) -> list[str]:
    return [label, _num(f["energy_kwh"], 1), _num(f["power_kw"], 1),
            _money(f["capex_per_yr"]), _money(f["grid_per_yr"]),
            _money(f["renewables_per_yr"]), _money(f["annual_cost"]),
            _money(base["annual_cost"] - f["annual_cost"]),
            f"{f['annual_cost'] / 365:,.1f}",
            f"{f['grid_kwh_per_day']:.1f}", f"{f['curtailed_kwh_per_day']:.1f}"]


def _money(x: float) -> str:
    """Whole currency units with thousands separators (no "-0")."""
    return f"{round(x):,}"


def _num(x: float, digits: int) -> str:
    """A non-negative size, with solver noise around 0 shown as 0."""
    return f"{max(x, 0.0) + 0.0:.{digits}f}"


PLAN_HEADER = ["case", "E (kWh)", "P (kW)", "capex (CNY/yr)", "grid (CNY/yr)",
               "PV+wind (CNY/yr)", "annual cost (CNY/yr)", "saving vs no storage (CNY/yr)",
               "cost (CNY/day)", "grid purchase (kWh/day)", "curtailed (kWh/day)"]


def table_planning(p: dict[str, Any], fixed: dict[str, Any]) -> str:
    rows = []
    for park in PARKS:
        base = p["parks"][park]["no_storage"]
        rows.append(_row(f"{park} alone, no storage", base, base))
        rows.append(_row(f"{park} alone, 50 kW / 100 kWh", fixed[park], base))
        rows.append(_row(f"{park} alone, optimal battery", p["parks"][park]["optimal"], base))
    base = p["parks_no_storage"]
    rows.append(_row("A+B+C, no storage", base, base))
    rows.append(_row("A+B+C, 50 kW / 100 kWh each", fixed["total"], base))
    rows.append(_row("A+B+C, optimal battery each", p["parks_optimal"], base))
    rows.append(_row("A+B+C, optimal shared station", p["shared"], base))
    jbase = p["joint"]["no_storage"]
    rows.append(_row("joint operation, no storage", jbase, jbase))
    rows.append(_row("joint operation, optimal storage", p["joint"]["optimal"], jbase))
    return _table(PLAN_HEADER, rows)


def table_sizes(p: dict[str, Any]) -> str:
    rows = []
    for park in PARKS:
        f = p["parks"][park]["optimal"]
        rows.append([f"battery {park}", _num(f["energy_kwh"], 2), _num(f["power_kw"], 2),
                     _ratio(f)])
    f = p["parks_optimal"]
    rows.append(["sum of the batteries", _num(f["energy_kwh"], 2), _num(f["power_kw"], 2),
                 _ratio(f)])
    f = p["shared"]
    rows.append(["shared station", _num(f["energy_kwh"], 2), _num(f["power_kw"], 2),
                 _ratio(f)])
    f = p["joint"]["optimal"]
    rows.append(["joint operation", _num(f["energy_kwh"], 2), _num(f["power_kw"], 2),
                 _ratio(f)])
    return _table(["storage", "E (kWh)", "P (kW)", "E/P (h)"], rows)


def _ratio(f: dict[str, Any]) -> str:
    return f"{f['energy_kwh'] / f['power_kw']:.2f}" if f["power_kw"] > 1e-6 else "-"


COST_NOTE = ("Annual cost (capex: 1/10 of the investment per year; operation: 365 days) and "
             "daily energy:")


def render(data: dict[str, Any]) -> str:
    parts = ["# CSEE 2024 problem A: three industrial parks, shared storage", "",
             "## (a) No storage, typical day: model vs. reference", "",
             table_reference(data["reference_check"]), ""]
    for days in DAYS:
        p, fixed = data["planning"][days], data["fixed"][days]
        parts += [f"## (b, c) Storage, {DAYS_LABEL[days]}", "", "Optimal sizes:", "",
                  table_sizes(p), "", COST_NOTE, "", table_planning(p, fixed), ""]
    return "\n".join(parts)


def collect(result: StudyResult) -> dict[str, Any]:
    """The data behind the tables, from the study's case results."""
    data: dict[str, Any] = {"reference_check": reference_check(result), "planning": {},
                            "fixed": {}}
    for days in DAYS:
        data["planning"][days] = planning(result, days)
        data["fixed"][days] = fixed_case(result, days)
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
