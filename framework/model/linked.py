"""Representative days linked through the year's sequence of clusters.

Kotzur, Markewitz, Robinius and Stolten, "Time series aggregation for energy system design:
Modeling seasonal storage", Appl. Energy 213 (2018) 123-135 (the same superposition as
Gabrielli et al., Appl. Energy 219, 2018): each representative day keeps its intra-day state
of charge *relative to its start*, and a state between days, one per historical day in
order, carries the energy from day to day through the sequence of the days' clusters
(``membership`` of the scenario file, :func:`framework.model.data.day_sequence`). Storage can
then move energy from one day to another, which cyclic representative days cannot.

With ``keep = (1 - self_discharge_per_h)^dt`` per step and ``keep_day = keep^T`` per day
(``T`` steps), for every storage ``k`` with the floor ``f_k = soc_min * E_k``, every
representative day ``c`` and every historical day ``d`` of cluster ``c(d)``:

* intra-day, on block ``c``: ``soc_kwh[c,k,t] - f_k = s[c,k,t]``, the state relative to the
  start, of free sign, from ``s[c,k,-1] = 0`` (``soc_start_kwh = f_k``) by
  :func:`framework.model.build.define_cells`' balance; ``soc_low_kwh[c,k] <= soc_kwh[c,k,t]
  <= soc_high_kwh[c,k]`` (every ``t``) replace the bounds of the day;
* between days: ``soc_day_kwh[k,d] = S[k,d] >= 0``, the state at the start of day ``d``,
  ``S[k,d+1] - f_k = keep_day * (S[k,d] - f_k) + s[c(d),k,T-1]`` with the year cyclic (the
  day after the last is day 0);
* bounds (superposition): ``keep_day * (S[k,d] - f_k) + soc_low_kwh[c(d),k] - f_k >= 0`` and
  ``S[k,d] + soc_high_kwh[c(d),k] - f_k <= soc_max * E_k``.

An accounts station does the same per account (``account_kwh`` relative to the day's start,
``account_day_kwh[i,d] >= 0``, ``account_low_kwh[c,i]``) and bounds the sum of the accounts
with ``accounts_high_kwh[c,k] >= sum_i account_kwh[c,i,t]``:
``sum_i account_day_kwh[i,d] + accounts_high_kwh[c(d),k] <= (soc_max - soc_min) * E_k``.

Exact (the same feasible set as every historical day operated in order with its cluster's
profile) without self-discharge; with it the bounds are conservative, the energy at the
start of a day counted with the whole day's decay at the floor and with none at the top
(``keep_day * S <= keep^(t+1) * S <= S``). The per-account limits of a lease
(:mod:`framework.lease`, its own extensive form) are not linked.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyomo.environ as pyo

from framework.errors import InputError
from framework.system import Storage


def define_linked_days(m: pyo.Block, blocks: Sequence[pyo.Block], sequence: Sequence[int],
                       tech: Storage, dt: float) -> None:
    """Link the representative days ``blocks`` through ``sequence`` (the position of each
    historical day's representative day, in order), the equations of the module docstring.

    Parameters
    ----------
    m : pyomo Block
        The first stage (``K``, ``cap_energy_kwh``); the states between days go on it.
    blocks : sequence of pyomo Block
        The dispatch of every representative day, cyclic as :func:`define_dispatch` built
        them: their starting states and bounds are replaced here.
    sequence : sequence of int
        ``c(d)`` for ``d = 0 .. D-1``.
    tech : Storage
    dt : float
        The step (h).
    """
    sequence = [int(c) for c in sequence]
    if not sequence or min(sequence) < 0 or max(sequence) >= len(blocks):
        raise InputError(f"linked days: the sequence of days names representative days "
                         f"0..{len(blocks) - 1} only, got {sorted(set(sequence))}")
    m.linked_day = pyo.Set(initialize=range(len(sequence)), ordered=True)
    if not hasattr(blocks[0], "soc_kwh"):
        return
    keep_day = (1.0 - tech.self_discharge_per_h) ** (dt * len(blocks[0].T))
    last = blocks[0].T.last()
    after = {d: (d + 1) % len(sequence) for d in m.linked_day}
    day = {d: blocks[c] for d, c in enumerate(sequence)}
    floor = {k: tech.soc_min_frac * m.cap_energy_kwh[k] for k in m.K}
    if hasattr(blocks[0], "account_kwh"):
        usable = tech.soc_max_frac - tech.soc_min_frac
        for block in blocks:
            _relative_accounts(block, m)
        m.account_day_kwh = pyo.Var(blocks[0].I, m.linked_day, within=pyo.NonNegativeReals)
        m.account_day_balance = pyo.Constraint(blocks[0].I, m.linked_day, rule=lambda b, i, d: (
            b.account_day_kwh[i, after[d]]
            == keep_day * b.account_day_kwh[i, d] + day[d].account_kwh[i, last]))
        m.account_day_min = pyo.Constraint(blocks[0].I, m.linked_day, rule=lambda b, i, d: (
            keep_day * b.account_day_kwh[i, d] + day[d].account_low_kwh[i] >= 0))
        m.accounts_day_max = pyo.Constraint(m.K, m.linked_day, rule=lambda b, k, d: (
            sum(b.account_day_kwh[i, d] for i in blocks[0].I) + day[d].accounts_high_kwh[k]
            <= usable * b.cap_energy_kwh[k]))
        return
    for block in blocks:
        _relative_cells(block, m, floor)
    m.soc_day_kwh = pyo.Var(m.K, m.linked_day, within=pyo.NonNegativeReals)
    m.soc_day_balance = pyo.Constraint(m.K, m.linked_day, rule=lambda b, k, d: (
        b.soc_day_kwh[k, after[d]] - floor[k]
        == keep_day * (b.soc_day_kwh[k, d] - floor[k]) + day[d].soc_kwh[k, last] - floor[k]))
    m.soc_day_min = pyo.Constraint(m.K, m.linked_day, rule=lambda b, k, d: (
        keep_day * (b.soc_day_kwh[k, d] - floor[k]) + day[d].soc_low_kwh[k] - floor[k] >= 0))
    m.soc_day_max = pyo.Constraint(m.K, m.linked_day, rule=lambda b, k, d: (
        b.soc_day_kwh[k, d] + day[d].soc_high_kwh[k] - floor[k]
        <= tech.soc_max_frac * b.cap_energy_kwh[k]))


def _relative_cells(block: pyo.Block, m: pyo.Block, floor: dict) -> None:
    """The cells of a representative day from the floor, of free sign, within the day's
    lowest and highest state instead of the storage's bounds."""
    for k in m.K:
        block.soc_start_kwh[k].set_value(floor[k])
    block.soc_kwh.domain = pyo.Reals
    block.del_component(block.soc_min)
    block.del_component(block.soc_max)
    block.soc_low_kwh = pyo.Var(m.K)
    block.soc_high_kwh = pyo.Var(m.K)
    block.soc_low = pyo.Constraint(m.K, block.T, rule=lambda b, k, t:
                                   b.soc_low_kwh[k] <= b.soc_kwh[k, t])
    block.soc_high = pyo.Constraint(m.K, block.T, rule=lambda b, k, t:
                                    b.soc_kwh[k, t] <= b.soc_high_kwh[k])


def _relative_accounts(block: pyo.Block, m: pyo.Block) -> None:
    """The accounts of a representative day from 0, of free sign, each above the day's
    lowest and their sum below the day's highest instead of the station's bounds."""
    for i in block.I:
        block.account_start_kwh[i].set_value(0.0)
    block.account_kwh.domain = pyo.Reals
    block.del_component(block.accounts_max)
    block.account_low_kwh = pyo.Var(block.I)
    block.accounts_high_kwh = pyo.Var(m.K)
    block.account_low = pyo.Constraint(block.I, block.T, rule=lambda b, i, t:
                                       b.account_low_kwh[i] <= b.account_kwh[i, t])
    block.accounts_high = pyo.Constraint(m.K, block.T, rule=lambda b, k, t: sum(
        b.account_kwh[i, t] for i in b.I) <= b.accounts_high_kwh[k])


def day_start_soc(m: pyo.Block, tech: Storage) -> np.ndarray:
    """The solved state of charge at the start of every historical day (kWh), shape
    ``(days, storages)``: ``soc_day_kwh``, or for an accounts station
    ``soc_min * E + sum_i account_day_kwh``."""
    out = np.zeros((len(m.linked_day), len(m.K)))
    for j, k in enumerate(m.K):
        if hasattr(m, "soc_day_kwh"):
            out[:, j] = [pyo.value(m.soc_day_kwh[k, d]) for d in m.linked_day]
        elif hasattr(m, "account_day_kwh"):
            out[:, j] = tech.soc_min_frac * pyo.value(m.cap_energy_kwh[k])
            for (_, d), var in m.account_day_kwh.items():
                out[d, j] += pyo.value(var)
    return out
