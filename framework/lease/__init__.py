"""Leasing storage as a leader-follower game (``docs/lease.md``).

An operator posts lease prices and sizes an ``accounts`` station; each microgrid leases an
account or builds its own battery. :func:`lease_game` finds the equilibrium (exact MILP,
search over the prices, or both) as a dataset; :func:`lease_game_summary` and
:func:`lease_game_table` give its JSON and printed table. The previous partition sweep
(no operator sizing, no overbooking) stays as :mod:`framework.lease.baseline`.
"""

from framework.lease.baseline import lease_summary, lease_sweep, lease_table
from framework.lease.exact import ExactResult, solve_exact
from framework.lease.model import LeaseGame, Outcome, PriceBox, build_game, default_price_box
from framework.lease.report import lease_game, lease_game_summary, lease_game_table
from framework.lease.search import SearchResult, evaluate, search_prices

__all__ = [
    "ExactResult", "LeaseGame", "Outcome", "PriceBox", "SearchResult", "build_game",
    "default_price_box", "evaluate", "lease_game", "lease_game_summary", "lease_game_table",
    "lease_summary", "lease_sweep", "lease_table", "search_prices", "solve_exact",
]
