"""The benchmark engine: which rows a run measures, how, and their ratios.

A *row* is pcp compiled against one alternative on one case, in one metric:

``instructions``
    instructions of one fresh round, counted by callgrind (``counting``):
    deterministic, for the rows where the cost is the CPU's work;
``memory``
    peak traced memory of one fresh round (``memory``): deterministic;
``copies``
    of the instructions counted, those in memcpy/memmove (large chunks,
    where every implementation makes the same single copy and time ties);
``resident``
    peak resident memory of one fresh round in a fresh process (information);
``time``
    seconds per fresh round, interleaved, paired ratio with a 95% confidence
    interval (``timing``), for the rows where the cost is memory traffic
    (page faults, copies of large chunks).

The ratio is always compiled's figure / the alternative's (lower is better).
``python -m pcp.bench`` and the release gate (``benchmarks/gate.py``) both run
``measure(plan(mode))``; the gate then judges the rows against its thresholds.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from pcp.bench import counting, memory, timing
from pcp.bench.alternatives import Alternative, load_alternatives
from pcp.bench.workloads import (
    MIB, KIB, Case, Skip, buffered, build_round, churn, large, partial, passthrough,
)

__all__ = ["METRICS", "MODES", "Entry", "Row", "measure", "plan"]

METRICS = ("instructions", "copies", "memory", "resident", "time")
MODES = ("quick", "full", "cli", "smoke")
PROXIES = ("compiled", "twin", "reference", "twisted")

Progress = Optional[Callable[[str], None]]


@dataclass(frozen=True)
class Entry:
    """One case measured in one metric against some alternatives (compiled first)."""

    metric: str
    case: Case
    alts: Tuple[str, ...]


@dataclass
class Row:
    """Compiled against one alternative on one case, in one metric."""

    metric: str
    case: Case
    alt: str
    compiled: Optional[float] = None  # instructions / bytes / best seconds, per round
    other: Optional[float] = None
    ratio: Optional[float] = None
    interval: Optional[Tuple[float, float]] = None  # time rows
    rounds: int = 0
    copies: Optional[Tuple[int, int]] = None  # instruction rows: memcpy/memmove instructions, compiled and other
    skipped: str = ""
    raw: Dict[str, List[float]] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The row's name in the thresholds: ``metric case vs alt``."""
        return f"{self.metric} {self.case.key} vs {self.alt}"

    def per_write(self, value: Optional[float]) -> Optional[float]:
        """*value* (a round's figure) per producer write."""
        return None if value is None else value / self.case.writes


def plan(mode: str) -> List[Entry]:
    """The rows of a run: ``quick`` (CI gate), ``full`` (release gate), ``cli`` (``python -m
    pcp.bench``) or ``smoke`` (tiny sizes, to test the tools)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; one of {MODES}")
    out: List[Entry] = []
    if mode == "smoke":
        cases = [buffered(100), buffered(100, "distinct"), passthrough(n=100), large(64 * KIB, MIB),
                 large(64 * KIB, MIB, 4), partial(MIB), churn(100)]
        out += [Entry("time", case, PROXIES + _physical(case)) for case in cases]
        out += [Entry("instructions", buffered(100), ("compiled", "reference"))]
        out += [Entry("memory", buffered(1000, "fresh"), ("compiled", "reference"))]
        return out
    full = mode in ("full", "cli")
    ns = (10**3, 10**5, 10**6) if full else (10**3, 10**5)
    # Instructions: the CPU-bound rows.
    for n in ns:
        for chunks in ("same", "distinct"):
            alts = ("compiled", "twin", "reference") if n <= 10**3 else ("compiled", "reference")
            out.append(Entry("instructions", buffered(n, chunks), alts + (("twisted",) if chunks == "same" else ())))
    out.append(Entry("instructions", passthrough(64), PROXIES + ("direct",)))
    for case in _counted_large_cases():
        out.append(Entry("instructions", case, ("compiled", "reference", "twin", "memmove")))
    out.append(Entry("instructions", partial(16 * MIB), PROXIES))
    out.append(Entry("instructions", churn(10**4), PROXIES))
    # Memory: peak of one round, chunks made inside the round as recv() makes them.
    for n in ns[1:]:
        out.append(Entry("memory", buffered(n, "fresh"), ("compiled", "twin", "reference")))
        out.append(Entry("memory", buffered(n, "same"), ("compiled", "reference")))
    if full:
        out.append(Entry("resident", buffered(10**6, "fresh"), ("compiled", "reference")))
    # Time: the rows where the cost is memory traffic.
    if full:
        for n in ns:
            for chunks in ("same", "distinct"):
                out.append(Entry("time", buffered(n, chunks), ("compiled", "reference")))
        # Twisted's quadratic write path at N = 1e4 would take callgrind a quarter of an hour: timed.
        out.append(Entry("time", buffered(10**4), ("compiled", "twisted")))
        out.append(Entry("time", passthrough(64), ("compiled", "direct")))
        out.append(Entry("time", partial(64 * MIB), ("compiled", "reference")))
        out.append(Entry("time", churn(10**5), ("compiled", "reference")))
    else:
        out.append(Entry("time", buffered(10**5, "distinct"), ("compiled", "reference")))
    for case in _large_cases() if full else _large_cases()[:1]:
        out.append(Entry("time", case, ("compiled", "reference", "memmove")))
    if mode == "cli":
        out = [e for e in out if e.metric == "time"]
        out = [Entry(e.metric, e.case, PROXIES + _physical(e.case)) for e in out]
    return out


def _physical(case: Case) -> Tuple[str, ...]:
    return tuple(a for a in case.alternatives if a not in PROXIES)


def _counted_large_cases() -> List[Case]:
    # Per byte, callgrind sees the same work at 4 MiB as at 16 MiB, in a quarter of the time.
    return [large(64 * KIB, 4 * MIB), large(64 * KIB, 16 * MIB, 16),
            large(MIB, 4 * MIB), large(MIB, 16 * MIB, 4)]


def _large_cases() -> List[Case]:
    return [large(64 * KIB, 16 * MIB), large(64 * KIB, 64 * MIB, 16),
            large(MIB, 16 * MIB), large(MIB, 64 * MIB, 16)]


def measure(entries: Sequence[Entry], alts: Optional[Dict[str, Alternative]] = None,
            progress: Progress = None, rounds: int = 7, budget: float = 2.0, max_rounds: int = 25,
            parallel: int = 2) -> List[Row]:
    """Measure every entry; the rows in plan order (one per non-compiled alternative)."""
    alts = alts if alts is not None else load_alternatives()
    rows: List[Row] = []
    for entry in entries:
        for name in entry.alts[1:]:
            rows.append(Row(entry.metric, entry.case, name))
    # Who can run what is decided once, before measuring.
    runnable: Dict[Tuple[str, str, str], bool] = {}
    for e in entries:
        for name in e.alts:
            try:
                build_round(e.case, alts[name])
            except Skip as exc:
                _skip(rows, e, name, str(exc))
                runnable[e.metric, e.case.key, name] = False
            else:
                runnable[e.metric, e.case.key, name] = True

    def ok(e: Entry, name: str) -> bool:
        return runnable[e.metric, e.case.key, name]

    counted = [e for e in entries if e.metric == "instructions"]
    if counted:
        jobs = [(e.case, name) for e in counted for name in e.alts if ok(e, name)]
        try:
            counts = counting.count_instructions(jobs, parallel=parallel, progress=progress)
        except counting.Unavailable as exc:
            for e in counted:
                for name in e.alts:
                    _skip(rows, e, name, str(exc))
        else:
            for row in rows:
                if row.metric == "instructions" and not row.skipped:
                    c, o = counts[row.case.key, "compiled"], counts[row.case.key, row.alt]
                    row.compiled, row.other = float(c.instructions), float(o.instructions)
                    row.ratio = c.instructions / o.instructions
                    row.copies = (c.copies, o.copies)
            rows[:] = _with_copy_rows(rows)
    for e in entries:
        if e.metric == "memory":
            peaks = {name: memory.traced_peak(e.case, alts[name]) for name in e.alts if ok(e, name)}
            _fill(rows, e, {k: float(v) for k, v in peaks.items()})
        elif e.metric == "resident":
            resident = {name: memory.resident_peak(e.case, name) for name in e.alts if ok(e, name)}
            if any(v is None for v in resident.values()):
                for name in e.alts:
                    _skip(rows, e, name, "resident memory is read from /proc (Linux only)")
            else:
                _fill(rows, e, {k: float(v) for k, v in resident.items() if v is not None})
        elif e.metric == "time":
            prepares = {name: build_round(e.case, alts[name]) for name in e.alts if ok(e, name)}
            times = timing.time_rounds(prepares, rounds, budget, max_rounds)
            for row in rows:
                if (row.metric, row.case.key) != ("time", e.case.key) or row.skipped:
                    continue
                if "compiled" not in times:
                    row.skipped = "compiled did not run"
                    continue
                quotients = timing.paired_ratios(times["compiled"], times[row.alt])
                row.compiled, row.other = min(times["compiled"]), min(times[row.alt])
                row.ratio = statistics.median(quotients)
                row.interval = timing.median_interval(quotients)
                row.rounds = len(quotients)
                row.raw = {"compiled": times["compiled"], row.alt: times[row.alt]}
        if progress is not None and e.metric != "instructions":
            done = [r for r in rows if (r.metric, r.case.key) == (e.metric, e.case.key) and r.ratio is not None]
            progress(f"{e.metric} {e.case.key}: " + ", ".join(f"vs {r.alt} {r.ratio:.3f}" for r in done))
    return rows


def _with_copy_rows(rows: List[Row]) -> List[Row]:
    """After each large-chunk instruction row, its ``copies`` row: memcpy/memmove instructions alone."""
    out: List[Row] = []
    for row in rows:
        out.append(row)
        if row.metric == "instructions" and row.case.workload == "large" and row.copies:
            c, o = row.copies
            out.append(Row("copies", row.case, row.alt, float(c), float(o), c / o if o else None))
    return out


def _skip(rows: List[Row], e: Entry, name: str, why: str) -> None:
    for row in rows:
        if (row.metric, row.case.key) == (e.metric, e.case.key) and (name == "compiled" or row.alt == name):
            if not row.skipped:
                row.skipped = why if name == row.alt else f"compiled: {why}"


def _fill(rows: List[Row], e: Entry, values: Dict[str, float]) -> None:
    for row in rows:
        if (row.metric, row.case.key) == (e.metric, e.case.key) and not row.skipped:
            row.compiled, row.other = values["compiled"], values[row.alt]
            row.ratio = row.compiled / row.other if row.other else None
