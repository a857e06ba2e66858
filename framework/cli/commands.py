"""``sesplan scenarios``, ``evaluate``, ``study`` and ``figures``."""

from __future__ import annotations

import argparse
import json
import sys

from framework.cli.common import (
    check_output,
    log,
    one_process,
    print_json,
    require_certified,
    system_and_scenarios,
    system_of,
)


def cmd_scenarios(args: argparse.Namespace) -> None:
    """``sesplan scenarios``: history -> clustered representative days -> NetCDF."""
    from scenarios_gen.pipeline import scenarios_for
    from scenarios_gen.scenarios import write_scenarios

    system = system_of(args.system)
    history = system.resolve(system.history.path) if system.history.path else None
    check_output(args.output, **{"--system": args.system, "the history": history})
    if not one_process("scenarios"):
        return
    ds = scenarios_for(system, n_clusters=args.clusters, method=args.method,
                       extreme_days=args.extreme_days, seed=args.seed, all_days=args.all_days)
    write_scenarios(ds, args.output)
    log.info("wrote %d scenarios to %s", ds.sizes["scenario"], args.output)
    if args.json:
        print_json({
            "output": str(args.output), "n_scenarios": int(ds.sizes["scenario"]),
            "probability": [float(p) for p in ds["probability"].values],
            "method": ds.attrs.get("method"), "seed": int(ds.attrs.get("seed", 0)),
            "metrics": json.loads(ds.attrs.get("metrics", "{}")),
        })


def cmd_evaluate(args: argparse.Namespace) -> None:
    """``sesplan evaluate``: a plan's capacities on another scenario set, as cyclic days
    (with the out-of-sample statistics), or with ``--chronological`` on every day in order."""
    from framework.chronological import (
        chronology_summary,
        chronology_table,
        evaluate_chronological,
    )
    from framework.evaluate import evaluate_with_statistics
    from framework.report import comparison_table
    from framework.results import read_result, summary, write_result

    check_output(args.output, **{"--plan": args.plan, "--scenarios": args.scenarios,
                                 "SYSTEM.toml": args.system})
    if not one_process("evaluate"):
        return
    system, scenarios = system_and_scenarios(args)
    plan = read_result(args.plan)
    ds = (evaluate_chronological(system, scenarios, plan) if args.chronological
          else evaluate_with_statistics(system, scenarios, plan))
    write_result(ds, args.output)
    if args.json:
        print_json({**summary(ds), **({"chronology": chronology_summary(ds)}
                                      if args.chronological else {})})
    else:
        print(comparison_table(ds))
        if args.chronological:
            print("\n" + chronology_table(ds))
    require_certified(ds)


def cmd_study(args: argparse.Namespace) -> None:
    """``sesplan study``: every unfinished case of a study, then its summary and figures."""
    from framework.study import run_study

    result = run_study(args.study, args.output, force=args.force)
    out = result.output_dir
    figures = sum(1 for p in result.outputs if p.parent.name == "figures")
    print(f"study {result.study.name!r}: {len(result.outcomes)} cases, "
          f"{len(result.solved)} solved, {len(result.names('cached'))} finished before, "
          f"{len(result.failed)} failed")
    print(f"tables: {out / 'summary.md'}, {out / 'summary.csv'}; results: {out / 'cases'}; "
          f"{figures} figure files in {out / 'figures'}")
    if result.failed:
        print("sesplan: failed cases (see summary.md): " + ", ".join(result.failed),
              file=sys.stderr)
        raise SystemExit(1)


def cmd_figures(args: argparse.Namespace) -> None:
    """``sesplan figures``: every figure that result files allow, as PDF and PNG."""
    from framework.plotting import make_figures

    only = [x.strip() for x in args.only.split(",") if x.strip()] if args.only else None
    for path in make_figures(args.results, args.output, only=only):
        print(path)
