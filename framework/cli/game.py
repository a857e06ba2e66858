"""``sesplan allocate`` and ``sesplan lease``."""

from __future__ import annotations

import argparse

from framework.cli.common import (
    check_output,
    floats,
    log,
    mpi_root,
    print_json,
    system_and_scenarios,
)


def cmd_allocate(args: argparse.Namespace) -> None:
    """``sesplan allocate``: coalition values, then the allocation rules and core checks."""
    from framework.game import allocate, allocation_summary, allocation_table
    from framework.results import write_result

    root = mpi_root(args)
    check_output(args.output, **{"--scenarios": args.scenarios, "SYSTEM.toml": args.system})
    rules = [x.strip() for x in args.rules.split(",") if x.strip()]
    ds = allocate(*system_and_scenarios(args), rules,
                  cache_dir=args.cache, n_permutations=args.permutations, seed=args.seed,
                  time_limit_s=args.time_limit)
    if not root:
        return
    write_result(ds, args.output)
    log.info("wrote %s", args.output)
    if args.json:
        print_json(allocation_summary(ds))
    else:
        print(allocation_table(ds))


def cmd_lease(args: argparse.Namespace) -> None:
    """``sesplan lease``: best responses to lease prices and the operator's profit."""
    from framework.lease import lease_summary, lease_sweep, lease_table
    from framework.results import write_result

    root = mpi_root(args)
    check_output(args.output, **{"--scenarios": args.scenarios, "SYSTEM.toml": args.system})
    ds = lease_sweep(*system_and_scenarios(args),
                     floats(args.energy_prices, "--energy-prices"),
                     floats(args.power_prices, "--power-prices"), grid=args.grid,
                     cache_dir=args.cache, time_limit_s=args.time_limit)
    if not root:
        return
    write_result(ds, args.output)
    log.info("wrote %s", args.output)
    if args.json:
        print_json(lease_summary(ds))
    else:
        print(lease_table(ds))
