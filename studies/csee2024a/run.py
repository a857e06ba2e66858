"""The three-park case of the 2024 CSEE modelling contest (problem A), as a sesplan study.

Run from the repository root::

    python studies/csee2024a/run.py [-o results/csee2024a]

It computes, with the framework's own model (``load_days`` -> ``solve_ef`` -> ``summary``):

(a) no storage, typical day: daily grid purchase and curtailed PV + wind of parks A, B, C
    alone and of the three parks in joint operation (one power balance), against the
    reference table of ``README.md``;
(b) the optimal battery of each park alone, the optimal shared station of the three parks
    (each park keeps its own grid connection; energy between parks passes through the
    station) and the optimal storage of the joint operation, for the typical day and for
    the 12 monthly typical days (probability 1/12 each): sizes, annual cost split, daily
    grid purchase and curtailment;
(c) the contest's fixed 50 kW / 100 kWh battery in each park.

It prints markdown tables and writes ``<out>/tables.md``, ``<out>/summary.json`` and one
result NetCDF per solve (``<out>/<days>_<system>_<case>.nc``).

The systems are the TOML files beside this script (typical day, storage allowed);
:func:`variant` derives the monthly-days and no-storage versions through
``system_from_dict``. The days files are made by ``make_data.py``.
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
from framework.results import combine_modes, summary, write_result
from framework.solve.ef import solve_ef
from framework.system import System, load_system, system_from_dict, system_to_dict
from scenarios_gen.sources import load_days

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

log = logging.getLogger("csee2024a")


# --- systems -------------------------------------------------------------------------------

def variant(name: str, days: str = "typical", storage: bool = True) -> System:
    """System ``name`` (a TOML file here) on the ``days`` set, with or without storage.

    ``storage=False`` bounds both capacities to 0 (``energy_max_kwh = power_max_kw = 0``).
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


# --- solving -------------------------------------------------------------------------------

def fixed_plan(parks: tuple[str, ...], energy_kwh: float, power_kw: float
               ) -> dict[str, dict[str, float]]:
    """``fixed_capacity`` for a battery of the same size in each park."""
    return {"cap_energy_kwh": {p: energy_kwh for p in parks},
            "cap_power_kw": {p: power_kw for p in parks}}


def daily_kwh(ds: xr.Dataset, name: str, mode: str) -> float:
    """Expected daily energy of a power variable, summed over microgrids (kWh/day)."""
    step_h = float(json.loads(ds.attrs["config"])["history"]["step_h"])
    r = ds[name].sel(mode=mode)
    return float((ds["probability"] * r.sum(("step", "microgrid")) * step_h).sum("scenario"))


def figures(ds: xr.Dataset, mode: str) -> dict[str, Any]:
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


class Study:
    """Solves the cases, keeps every result, writes them under ``out``."""

    def __init__(self, out: Path | None) -> None:
        self.out = out
        self.results: dict[str, dict[str, Any]] = {}
        self._scenarios: dict[tuple[str, str], xr.Dataset] = {}

    def scenarios(self, system: System, name: str, days: str) -> xr.Dataset:
        key = (name, days)
        if key not in self._scenarios:
            self._scenarios[key] = load_days(system)
        return self._scenarios[key]

    def run(self, name: str, days: str, case: str, modes: tuple[str, ...] = ("individual",),
            storage: bool = True, **kwargs: Any) -> xr.Dataset:
        """Solve ``name`` on ``days`` in ``modes``; store and write the result as ``case``."""
        system = variant(name, days, storage)
        scen = self.scenarios(system, name, days)
        ds = combine_modes([solve_ef(system, scen, mode, **kwargs) for mode in modes])
        key = f"{days}_{name}_{case}"
        self.results[key] = summary(ds)
        if self.out is not None:
            write_result(ds, self.out / f"{key}.nc")
        log.info("%s solved", key)
        return ds


# --- the three parts -----------------------------------------------------------------------

def reference_check(study: Study) -> list[dict[str, Any]]:
    """(a) No storage, typical day: model vs. the reference table."""
    rows = []
    for case in (*PARKS, "joint"):
        name = "joint" if case == "joint" else f"park_{case}"
        f = figures(study.run(name, "typical", "no_storage", storage=False), "individual")
        ref = REFERENCE[case]
        rows.append({"case": "A+B+C joint" if case == "joint" else f"{case} alone",
                     "grid_kwh": f["grid_kwh_per_day"], "grid_ref": ref["grid_kwh"],
                     "curtailed_kwh": f["curtailed_kwh_per_day"],
                     "curtailed_ref": ref["curtailed_kwh"]})
    return rows


def planning(study: Study, days: str) -> dict[str, Any]:
    """(b) No storage, optimal battery per park, optimal shared station, joint operation."""
    out: dict[str, Any] = {"parks": {}}
    for park in PARKS:
        name = f"park_{park}"
        out["parks"][park] = {
            "no_storage": figures(study.run(name, days, "no_storage", storage=False),
                                  "individual"),
            "optimal": figures(study.run(name, days, "optimal"), "individual"),
        }
    shared = study.run("three_parks", days, "optimal", modes=("individual", "shared"))
    out["three_parks_individual"] = figures(shared, "individual")
    out["shared"] = figures(shared, "shared")
    out["joint"] = {
        "no_storage": figures(study.run("joint", days, "no_storage", storage=False),
                              "individual"),
        "optimal": figures(study.run("joint", days, "optimal"), "individual"),
    }
    for case in ("no_storage", "optimal"):
        out[f"parks_{case}"] = _total([out["parks"][p][case] for p in PARKS])
    return out


def fixed_case(study: Study, days: str) -> dict[str, Any]:
    """(c) 50 kW / 100 kWh in each park, dispatch optimised."""
    out = {}
    for park in PARKS:
        ds = study.run(f"park_{park}", days, "fixed_50kW_100kWh",
                       fixed_capacity=fixed_plan((park,), FIXED_ENERGY_KWH, FIXED_POWER_KW))
        out[park] = figures(ds, "individual")
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


def run_study(out: Path | None) -> dict[str, Any]:
    """Every case; returns the data behind the tables (and writes files when ``out``)."""
    study = Study(out)
    data: dict[str, Any] = {"reference_check": reference_check(study), "planning": {},
                            "fixed": {}}
    for days in DAYS:
        data["planning"][days] = planning(study, days)
        data["fixed"][days] = fixed_case(study, days)
    data["results"] = study.results
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=Path("results/csee2024a"),
                        help="output folder (default: results/csee2024a)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every solve")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    data = run_study(args.out)
    text = render(data)
    print(text)
    (args.out / "tables.md").write_text(text + "\n", encoding="utf-8")
    (args.out / "summary.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n",
                                           encoding="utf-8")
    print(f"\nwrote {args.out / 'tables.md'}, {args.out / 'summary.json'} and "
          f"{len(data['results'])} result files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
