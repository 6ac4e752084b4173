"""Time rounds, interleaved, and the paired ratio with its confidence interval.

Each round runs in a child forked from the measuring process (where fork
exists), so each starts from the same heap. Each alternative runs one warm-up
round, then rounds in turn, each pass
starting from a different alternative so that none always follows the same
one. Every round is a fresh proxy (``workloads``). A ratio is the median, over
passes, of compiled's time / the other's time in the same pass; its
confidence interval is the distribution-free one for a median (order
statistics of the binomial(n, 1/2)), so no assumption is made about how the
noise is shaped. Every round counts: nothing is measured again and no draw is
preferred.
"""

from __future__ import annotations

import gc
import math
import os
import statistics
import time
from typing import Dict, List, Sequence, Tuple

from pcp.bench.workloads import Prepare

__all__ = ["CONFIDENCE", "median_interval", "paired_ratio", "paired_ratios", "time_rounds"]

#: The confidence of the intervals printed beside time ratios.
CONFIDENCE = 0.95


def _one_here(prepare: Prepare) -> float:
    run, check = prepare()
    clock = time.perf_counter
    start = clock()
    run()
    elapsed = clock() - start
    check()
    return elapsed


def _one(prepare: Prepare) -> float:
    """Seconds of one round, run in a child forked from this process where fork exists.

    A fresh proxy's cost depends on what the allocator holds: a round that
    follows one which freed 16 MB reuses those pages, a round after one that
    kept them faults fresh pages in. Forking every round from the same parent
    gives every alternative the same starting heap, whatever ran before.
    """
    if not hasattr(os, "fork"):
        return _one_here(prepare)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one round, its seconds (or its error) down the pipe
        code = 0
        try:
            os.close(read_end)
            message = repr(_one_here(prepare))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            message, code = f"error {type(exc).__name__}: {exc}", 1
        try:
            os.write(write_end, message.encode())
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as fh:
        message = fh.read().decode()
    os.waitpid(pid, 0)
    if message.startswith("error ") or not message:
        raise RuntimeError(f"a timed round failed: {message[6:] or 'the child died'}")
    return float(message)


def time_rounds(prepares: Dict[str, Prepare], rounds: int, budget: float = 0.0,
                max_rounds: int = 0) -> Dict[str, List[float]]:
    """Seconds of each round of every alternative, interleaved; by alternative.

    One warm-up round each first (not kept). With a *budget* (seconds), the
    number of rounds grows from *rounds* toward *max_rounds* while the budget
    allows, decided from the warm-up alone (never from the results).
    """
    order = list(prepares)
    gc.collect()
    warm = sum(_one(prepares[name]) for name in order)
    if budget and max_rounds > rounds and warm > 0:
        rounds = max(rounds, min(max_rounds, int(budget / warm)))
    times: Dict[str, List[float]] = {name: [] for name in order}
    for r in range(rounds):
        k = r % len(order)
        for name in order[k:] + order[:k]:
            times[name].append(_one(prepares[name]))
    return times


def paired_ratios(compiled: Sequence[float], other: Sequence[float]) -> List[float]:
    """compiled's time / the other's time, pass by pass."""
    return [c / o for c, o in zip(compiled, other)]


def paired_ratio(compiled: Sequence[float], other: Sequence[float]) -> float:
    """The median over passes of compiled's time / the other's time in the same pass."""
    return statistics.median(paired_ratios(compiled, other))


def median_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Tuple[float, float]:
    """A distribution-free confidence interval for the median of *values*.

    The interval between the k-th smallest and k-th largest value, with k the
    largest for which the binomial(n, 1/2) coverage is at least *confidence*;
    with too few values for that confidence, the whole range.
    """
    xs = sorted(values)
    n = len(xs)
    if n == 0:
        raise ValueError("no values")
    best = 0
    for k in range(1, n // 2 + 1):
        # P(k <= B <= n - k) for B ~ binomial(n, 1/2): the order statistics x[k-1], x[n-k] cover the median.
        tail = sum(math.comb(n, i) for i in range(k)) / 2**n
        if 1 - 2 * tail >= confidence:
            best = k
        else:
            break
    if best == 0:
        return xs[0], xs[-1]
    return xs[best - 1], xs[n - best]
