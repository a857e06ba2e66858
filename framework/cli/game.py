"""``sesplan allocate`` and ``sesplan lease``."""

from __future__ import annotations

import argparse
import dataclasses

from framework.cli.common import (
    NotCertified,
    check_output,
    emit,
    floats,
    given,
    log,
    mpi_root,
    system_and_scenarios,
)
from framework.errors import InputError


def cmd_allocate(args: argparse.Namespace) -> None:
    """``sesplan allocate``: coalition values, then the allocation rules and core checks."""
    from framework.game import RULES, allocate, allocation_summary, allocation_table
    from framework.game.allocate import ENUMERATION_MAX, not_certified

    root = mpi_root(args)
    check_output(args.output, **{"--scenarios": args.scenarios, "SYSTEM.toml": args.system})
    system, scenarios = system_and_scenarios(args)
    n = len(system.names)
    generate = args.method == "generation" or (args.method == "auto" and n > ENUMERATION_MAX)
    if args.rules is not None:
        rules = [x.strip() for x in args.rules.split(",") if x.strip()]
    elif generate:  # the exact Shapley value needs every coalition: sample it instead
        rules = ["sampled_shapley" if x == "shapley" else x for x in RULES]
        log.info("%d microgrids, by generation: sampled_shapley instead of shapley", n)
    else:
        rules = list(RULES)
    tolerance = given(tolerance=args.tolerance, rel_tolerance=args.rel_tolerance)
    if args.rules is None and generate and not tolerance:
        tolerance = {"rel_tolerance": DEFAULT_REL_TOLERANCE}
    ds = allocate(system, scenarios, rules, method=args.method, cache_dir=args.cache,
                  n_permutations=args.permutations, seed=args.seed,
                  time_limit_s=args.time_limit,
                  generation_time_limit_s=args.generation_time_limit,
                  separation=args.separation, **tolerance)
    if not root:
        return
    emit(args, ds, allocation_summary, allocation_table)
    why = not_certified(ds)
    if why:
        raise NotCertified(why)


#: The stopping rule of sampled Shapley when the default rules sample it (generation):
#: every confidence interval within 1 % of the saving of sharing.
DEFAULT_REL_TOLERANCE = 0.01


#: Options of ``sesplan lease`` that only some methods read, and those methods.
LEASE_OPTIONS = {"energy_price_bounds": ("search", "exact", "both"),
                 "power_price_bounds": ("search", "exact", "both"),
                 "fee_bounds": ("search", "exact", "both"),
                 "levels": ("search", "exact", "both"), "coarse": ("search", "both"),
                 "starts": ("search", "both"), "full": ("search", "both"),
                 "energy_prices": ("baseline",), "power_prices": ("baseline",),
                 "grid": ("baseline",)}


def _bounds(text: str | None, option: str) -> tuple[float, float] | None:
    values = floats(text, option)
    if values is not None and len(values) != 2:
        raise InputError(f"{option}: expected LO,HI (two numbers), got {text!r}")
    return None if values is None else (values[0], values[1])


def cmd_lease(args: argparse.Namespace) -> None:
    """``sesplan lease``: the leasing game's equilibrium (or the baseline sweep)."""
    from framework.lease import (
        default_price_box,
        lease_game,
        lease_game_summary,
        lease_game_table,
        lease_summary,
        lease_sweep,
        lease_table,
    )

    for name, methods in LEASE_OPTIONS.items():
        if getattr(args, name) is not None and args.method not in methods:
            raise InputError(f"--{name.replace('_', '-')}: applies to --method "
                             f"{' or '.join(methods)}, not --method {args.method}")
    root = mpi_root(args)
    check_output(args.output, **{"--scenarios": args.scenarios, "SYSTEM.toml": args.system})
    system, scenarios = system_and_scenarios(args)
    if args.method == "baseline":
        ds = lease_sweep(system, scenarios, floats(args.energy_prices, "--energy-prices"),
                         floats(args.power_prices, "--power-prices"),
                         **given(grid=args.grid), cache_dir=args.cache,
                         time_limit_s=args.time_limit)
        summary, table = lease_summary, lease_table
    else:
        default = default_price_box(system, **given(levels=args.levels))
        box = dataclasses.replace(default, **given(
            energy=_bounds(args.energy_price_bounds, "--energy-price-bounds"),
            power=_bounds(args.power_price_bounds, "--power-price-bounds"),
            fee=_bounds(args.fee_bounds, "--fee-bounds")))
        ds = lease_game(system, scenarios, method=args.method, box=box,
                        **given(coarse=args.coarse, starts=args.starts, full=args.full,
                                mip_rel_gap=args.mip_rel_gap),
                        time_limit_s=args.time_limit, cache_dir=args.cache)
        summary, table = lease_game_summary, lease_game_table
    if not root:
        return
    emit(args, ds, summary, table)
