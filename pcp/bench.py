"""Side-by-side speed of pcp and its alternatives: ``python -m pcp.bench``.

Five workloads, each run against pcp compiled, pcp's pure-Python twin, a
straightforward pure-Python reference proxy (``pcp._reference``) and Twisted's
own ``twisted.protocols.pcp.ProducerConsumerProxy`` when it is installed:

1. ``buffered``: a paused proxy with a streaming producer registered takes N
   writes of 64 bytes, then is resumed (one flush). Cost per write includes
   its share of the flush.
2. ``passthrough``: an unpaused proxy passes each 64 B or 1 KiB write straight
   on; ``direct`` calls the consumer's write itself, in the same loop.
3. ``large``: 64 KiB and 1 MiB chunks buffered then flushed: 16 MiB in one
   flush, and 64 MiB in cycles of 16 writes per flush; ``memmove`` copies the
   same chunks into a bytearray the size of one flush (allocated once), the
   physical reference.
4. ``partial``: a pull proxy whose ``_writeSomeData`` takes at most 16 KiB per
   call, pulling 64 KiB writes from a pull producer, 64 MiB through.
5. ``churn``: the buffer crosses its high and low marks on every cycle, so the
   producer is paused and resumed each time.

Twisted's proxy raises TypeError when it flushes buffered bytes on Python 3.
What it can do is timed: its writes with bytes and its flushes with ``str`` of
the same size; the pull and churn workloads, where every step flushes, run on
``str``. The output says so. Its write path is quadratic (it re-sums the
buffer on every write), so it is skipped above N = 1e4.

Rounds of the alternatives are interleaved (each round in a different order)
and costs are those of the best round of each ("compiled vs it" compares those;
the release gate, stricter about noise, takes the median of round-by-round
quotients instead: ``paired_ratio``). The module holds
the workloads that ``benchmarks/`` (the release gate's pytest-benchmark suite)
runs too; it needs nothing from there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

from pcp._reference import ReferenceProxy

__all__ = [
    "ALTERNATIVES",
    "Alternative",
    "Case",
    "Skip",
    "build_round",
    "cases",
    "load_alternatives",
    "main",
    "measure",
    "paired_ratio",
    "run",
]

#: The proxies every workload runs against, in table order.
ALTERNATIVES = ("compiled", "twin", "reference", "twisted")
#: Physical references: what the work costs without any proxy.
PHYSICAL = {"passthrough": "direct", "large": "memmove"}

KIB = 1024
MIB = 1024 * KIB
SMALL = 64
PARTIAL_LIMIT = 16 * KIB
PULL_CHUNK = 64 * KIB
CHURN_HIGH = 4 * SMALL
TWISTED_MAX_N = 10_000
TWISTED_SKIP = (
    "Twisted's ProducerConsumerProxy re-sums its whole buffer on every write "
    "(quadratic): skipped above N = 1e4 (at 1e5 one round takes minutes, at 1e6 hours)"
)

Round = Callable[[], float]


class Skip(Exception):
    """An alternative that cannot run a case (the message says why)."""


# -- the parts around the proxy ------------------------------------------------------


class CountingConsumer:
    """A consumer whose write only counts the bytes it is given."""

    def __init__(self) -> None:
        self.received = 0
        self.producer: Any = None

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """Remember the producer (the proxy)."""
        self.producer = producer

    def unregisterProducer(self) -> None:
        """Forget the producer."""
        self.producer = None

    def write(self, data: Any) -> None:
        """Count *data*."""
        self.received += len(data)


class StreamingProducer:
    """A push producer that counts how often it is paused and resumed."""

    def __init__(self) -> None:
        self.paused = False
        self.pauses = 0
        self.resumes = 0

    def pauseProducing(self) -> None:
        """Count a pause."""
        self.paused = True
        self.pauses += 1

    def resumeProducing(self) -> None:
        """Count a resume."""
        self.paused = False
        self.resumes += 1

    def stopProducing(self) -> None:
        """Nothing to stop."""


class PullProducer:
    """A pull producer: each resumeProducing writes one chunk while its budget lasts."""

    def __init__(self, chunk: Any) -> None:
        self.chunk = chunk
        self.left = 0
        self.consumer: Any = None

    def resumeProducing(self) -> None:
        """Write one chunk to the consumer, if any budget is left."""
        if self.left > 0:
            self.left -= len(self.chunk)
            self.consumer.write(self.chunk)

    def stopProducing(self) -> None:
        """Spend the budget."""
        self.left = 0


# -- the alternatives -------------------------------------------------------------------


@dataclass
class Alternative:
    """One implementation: its ProducerConsumerProxy class, or why it is missing."""

    name: str
    cls: Optional[type] = None
    missing: str = ""
    note: str = ""


def load_alternatives() -> Dict[str, Alternative]:
    """The four implementations, by name; a missing one says why in ``missing``."""
    import pcp
    from pcp._implementations import load

    alts = {name: Alternative(name) for name in ALTERNATIVES}
    if pcp.EXTENSIONS:
        alts["compiled"].cls = pcp.ProducerConsumerProxy
    elif os.environ.get("PCP_NO_EXTENSIONS"):
        alts["compiled"].missing = "disabled by PCP_NO_EXTENSIONS"
    else:
        alts["compiled"].missing = "the compiled extension is not built"
    alts["twin"].cls = load("twin").ProducerConsumerProxy
    alts["reference"].cls = ReferenceProxy
    alts["reference"].note = "list of chunks, byte count, b''.join on flush (pcp._reference)"
    try:
        from twisted.protocols.pcp import ProducerConsumerProxy as TwistedProxy
    except ImportError:
        alts["twisted"].missing = "not installed"
    else:
        alts["twisted"].cls = TwistedProxy
        alts["twisted"].note = twisted_bytes_flush_note(TwistedProxy)
    return alts


def twisted_bytes_flush_error(cls: type) -> Optional[str]:
    """Flush one buffered bytes write through *cls*; the exception it raises, or None."""
    proxy = cls(CountingConsumer())
    proxy.pauseProducing()
    proxy.write(b"x" * SMALL)
    try:
        proxy.resumeProducing()
    except Exception as exc:  # noqa: BLE001 - reported, whatever it is
        return f"{type(exc).__name__}: {exc}"
    return None


def twisted_bytes_flush_note(cls: type) -> str:
    """What the output says about Twisted's flush of bytes."""
    error = twisted_bytes_flush_error(cls)
    if error is None:
        return "flushes buffered bytes: timed on bytes throughout"
    return (
        f"flushing buffered bytes raises {error}; timed: its writes with bytes, "
        "its flushes with str of the same size (partial and churn run on str)"
    )


# -- the cases --------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One workload at one size: what a round does, and how much."""

    workload: str
    label: str
    writes: int  # producer writes per round
    nbytes: int  # bytes through per round
    n: int = 0  # writes (buffered, passthrough) or cycles (churn)
    chunk: int = SMALL
    per_flush: int = 0  # large: writes per flush
    total: int = 0  # large, partial: bytes per round

    @property
    def key(self) -> str:
        """A stable name, used by the gate's thresholds and baseline."""
        return f"{self.workload}[{self.label}]"

    @property
    def alternatives(self) -> Sequence[str]:
        """The alternatives that run this case, physical reference last."""
        extra = PHYSICAL.get(self.workload)
        return ALTERNATIVES + ((extra,) if extra else ())


def _size(n: int) -> str:
    if n >= MIB and n % MIB == 0:
        return f"{n // MIB} MiB"
    if n >= KIB and n % KIB == 0:
        return f"{n // KIB} KiB"
    return f"{n} B"


def _count(n: int) -> str:
    exp = len(str(n)) - 1
    return f"1e{exp}" if n == 10**exp else str(n)


def buffered_case(n: int) -> Case:
    """Workload 1 at N writes."""
    return Case("buffered", f"N={_count(n)}", writes=n, nbytes=n * SMALL, n=n)


def passthrough_case(chunk: int, n: int) -> Case:
    """Workload 2 with *chunk*-byte writes, *n* per round."""
    return Case("passthrough", _size(chunk).replace(" ", ""), writes=n, nbytes=n * chunk, n=n, chunk=chunk)


def large_case(chunk: int, total: int, per_flush: int = 0) -> Case:
    """Workload 3: *total* bytes in *chunk* writes, flushed once (per_flush=0) or every *per_flush*."""
    count = total // chunk
    if count < 1 or (per_flush and count % per_flush):
        raise ValueError(f"{total} bytes is not a whole number of flushes of {per_flush} x {chunk} bytes")
    every = f"every{per_flush}" if per_flush else "once"
    label = f"{_size(chunk)}x{count}-{every}".replace(" ", "")
    return Case("large", label, writes=count, nbytes=count * chunk, chunk=chunk,
                per_flush=per_flush or count, total=count * chunk)


def partial_case(total: int) -> Case:
    """Workload 4: *total* bytes through a pull proxy taking 16 KiB per write."""
    return Case("partial", _size(total).replace(" ", ""), writes=total // PULL_CHUNK,
                nbytes=total, chunk=PULL_CHUNK, total=total)


def churn_case(cycles: int) -> Case:
    """Workload 5: *cycles* high/low crossings, four 64 B writes each."""
    return Case("churn", f"cycles={_count(cycles)}", writes=4 * cycles,
                nbytes=4 * cycles * SMALL, n=cycles)


def cases(mode: str = "full") -> List[Case]:
    """The cases of a run: ``full`` (the release gate), ``quick`` (CI), ``cli``
    (``python -m pcp.bench``) or ``smoke`` (tiny sizes, to test the tools)."""
    # One flush of 16 MiB stays under glibc's 32 MiB mmap ceiling, so its memory
    # is reused from round to round; a larger one is paid in page faults, the
    # same for every alternative, which measures the kernel rather than a proxy.
    once, every16 = 16 * MIB, 64 * MIB
    if mode == "full":
        ns, pt, partial = (10**3, 10**4, 10**5, 10**6), 20_000, (16 * MIB, 64 * MIB)
    elif mode == "quick":
        ns, pt, partial = (10**3, 10**4, 10**5), 20_000, (16 * MIB,)
    elif mode == "cli":
        ns, pt, partial = (10**2, 10**3, 10**4, 10**5, 10**6), 20_000, (16 * MIB,)
    elif mode == "smoke":
        ns, pt, partial = (10, 100), 100, (MIB,)
        every16 = once
    else:
        raise ValueError(f"unknown mode {mode!r}")
    out = [buffered_case(n) for n in ns]
    out += [passthrough_case(size, pt) for size in (SMALL, KIB)]
    for chunk in (64 * KIB, MIB):
        out += [large_case(chunk, once), large_case(chunk, every16, 16)]
    out += [partial_case(total) for total in partial]
    out.append(churn_case(100 if mode == "smoke" else 10**5))
    return out


# -- rounds -----------------------------------------------------------------------------
#
# build_round(case, alt) sets a proxy up once (servers keep their proxies) and
# returns a callable running one round on it and returning the seconds it
# took. Each round checks afterwards that every byte reached the consumer.


def build_round(case: Case, alt: Alternative) -> Round:
    """A callable running one round of *case* on *alt*; raises Skip if it cannot."""
    if alt.name == "direct":
        return _direct_round(case)
    if alt.name == "memmove":
        return _memmove_round(case)
    if alt.cls is None:
        raise Skip(f"{alt.name}: {alt.missing}")
    twisted = alt.name == "twisted"
    if case.workload == "buffered":
        if twisted and case.n > TWISTED_MAX_N:
            raise Skip(TWISTED_SKIP)
        return _flush_cycles_round(alt.cls, case.chunk, case.n, 1, twisted)
    if case.workload == "passthrough":
        return _passthrough_round(alt.cls, case)
    if case.workload == "large":
        return _flush_cycles_round(alt.cls, case.chunk, case.per_flush, case.writes // case.per_flush, twisted)
    if case.workload == "partial":
        return _partial_round(alt.cls, case, twisted)
    if case.workload == "churn":
        return _churn_round(alt.cls, case, twisted)
    raise ValueError(f"unknown workload {case.workload!r}")


class _Check:
    """Checks after a round that the consumer received exactly what was sent."""

    def __init__(self, consumer: CountingConsumer, per_round: int, what: str) -> None:
        self.consumer, self.per_round, self.what = consumer, per_round, what
        self.expected = consumer.received

    def __call__(self) -> None:
        self.expected += self.per_round
        if self.consumer.received != self.expected:
            raise RuntimeError(
                f"{self.what}: the consumer received {self.consumer.received} bytes, "
                f"expected {self.expected}"
            )


def _streaming_proxy(cls: type) -> Any:
    consumer = CountingConsumer()
    proxy = cls(consumer)
    proxy.registerProducer(StreamingProducer(), True)
    return proxy, consumer


def _flush_cycles_round(cls: type, chunk_size: int, per_flush: int, cycles: int, twisted: bool) -> Round:
    """Cycles of: pause, *per_flush* writes of *chunk_size* bytes, resume (one flush)."""
    proxy, consumer = _streaming_proxy(cls)
    chunk = b"x" * chunk_size
    write, pause, resume = proxy.write, proxy.pauseProducing, proxy.resumeProducing
    check = _Check(consumer, cycles * per_flush * chunk_size, f"{cls.__module__}.{cls.__qualname__}")
    clock = time.perf_counter
    if twisted:
        return _twisted_flush_cycles_round(proxy, chunk, per_flush, cycles, check)

    def one_round() -> float:
        start = clock()
        for _ in range(cycles):
            pause()
            for _ in range(per_flush):
                write(chunk)
            resume()
        elapsed = clock() - start
        check()
        return elapsed

    return one_round


def _twisted_flush_cycles_round(proxy: Any, chunk: bytes, per_flush: int, cycles: int, check: _Check) -> Round:
    """Twisted's writes timed with bytes; its flush, which fails on bytes, timed with str."""
    text = [chunk.decode("ascii")] * per_flush
    write, pause, resume = proxy.write, proxy.pauseProducing, proxy.resumeProducing
    clock = time.perf_counter

    def one_round() -> float:
        elapsed = 0.0
        for _ in range(cycles):
            start = clock()
            pause()
            for _ in range(per_flush):
                write(chunk)
            elapsed += clock() - start
            start = clock()
            try:
                resume()
            except TypeError:
                proxy._buffer[:] = text
                start = clock()
                resume()
            elapsed += clock() - start
        check()
        return elapsed

    return one_round


def _passthrough_round(cls: type, case: Case) -> Round:
    proxy, consumer = _streaming_proxy(cls)
    return _write_loop(proxy.write, case, _Check(consumer, case.nbytes, cls.__qualname__))


def _direct_round(case: Case) -> Round:
    if case.workload != "passthrough":
        raise Skip(f"direct writes are the reference of passthrough, not of {case.workload}")
    consumer = CountingConsumer()
    return _write_loop(consumer.write, case, _Check(consumer, case.nbytes, "direct"))


def _write_loop(write: Callable[[Any], None], case: Case, check: _Check) -> Round:
    chunk = b"x" * case.chunk
    n = case.n
    clock = time.perf_counter

    def one_round() -> float:
        start = clock()
        for _ in range(n):
            write(chunk)
        elapsed = clock() - start
        check()
        return elapsed

    return one_round


def _memmove_round(case: Case) -> Round:
    """The same bytes copied into a bytearray (allocated and touched once) the size of a flush."""
    if case.workload != "large":
        raise Skip(f"memmove is the reference of large, not of {case.workload}")
    chunk = b"x" * case.chunk
    size = case.chunk
    dst = memoryview(bytearray(b"y" * (case.per_flush * size)))
    offsets = [i * size for i in range(case.per_flush)]
    cycles = case.writes // case.per_flush
    clock = time.perf_counter

    def one_round() -> float:
        start = clock()
        for _ in range(cycles):
            for offset in offsets:
                dst[offset : offset + size] = chunk
        return clock() - start

    return one_round


def _partial_round(cls: type, case: Case, twisted: bool) -> Round:
    class PartialPullProxy(cls):  # type: ignore[misc, valid-type]
        iAmStreaming = False

        def _writeSomeData(self, data: Any) -> int:
            n = len(data)
            if n > PARTIAL_LIMIT:
                n = PARTIAL_LIMIT
                data = data[:n]
            self.consumer.write(data)
            return n

    consumer = CountingConsumer()
    proxy = PartialPullProxy(consumer)
    chunk = "x" * case.chunk if twisted else b"x" * case.chunk
    producer = PullProducer(chunk)
    producer.consumer = proxy
    proxy.registerProducer(producer, False)
    check = _Check(consumer, case.total, f"partial writes through {cls.__qualname__}")
    limit = 4 * case.total // PARTIAL_LIMIT + 100
    pull = proxy.resumeProducing
    clock = time.perf_counter

    def one_round() -> float:
        producer.left = case.total
        target = check.expected + case.total
        pulls = 0
        start = clock()
        while consumer.received < target and pulls < limit:
            pull()
            pulls += 1
        elapsed = clock() - start
        check()
        return elapsed

    return one_round


def _churn_round(cls: type, case: Case, twisted: bool) -> Round:
    proxy, consumer = _streaming_proxy(cls)
    proxy.bufferSize = CHURN_HIGH
    producer = proxy.producer
    chunk = "x" * SMALL if twisted else b"x" * SMALL
    cycles = case.n
    write, pause, resume = proxy.write, proxy.pauseProducing, proxy.resumeProducing
    check = _Check(consumer, case.nbytes, f"churn through {cls.__qualname__}")
    clock = time.perf_counter

    def one_round() -> float:
        pauses, resumes = producer.pauses, producer.resumes
        start = clock()
        for _ in range(cycles):
            pause()
            write(chunk)
            write(chunk)
            write(chunk)
            write(chunk)
            resume()
        elapsed = clock() - start
        check()
        if producer.pauses - pauses != cycles or producer.resumes - resumes != cycles:
            raise RuntimeError(
                f"churn through {cls.__qualname__}: the producer was paused "
                f"{producer.pauses - pauses} and resumed {producer.resumes - resumes} "
                f"times in {cycles} cycles"
            )
        return elapsed

    return one_round


# -- measuring --------------------------------------------------------------------------


@dataclass
class Result:
    """The rounds of one alternative on one case, or why it did not run."""

    case: Case
    alt: str
    times: List[float] = field(default_factory=list)
    skipped: str = ""

    @property
    def best(self) -> float:
        """The fastest round, in seconds (at least a nanosecond)."""
        return max(min(self.times), 1e-9)

    @property
    def ns_per_write(self) -> float:
        """Nanoseconds per producer write in the best round (its share of the flush included)."""
        return self.best / self.case.writes * 1e9

    @property
    def gbps(self) -> float:
        """Gigabytes (1e9 bytes) per second through, in the best round."""
        return self.case.nbytes / self.best / 1e9

    def as_dict(self) -> Dict[str, Any]:
        """The raw figures, for --json."""
        if self.skipped:
            return {"skipped": self.skipped}
        return {
            "rounds": self.times,
            "best_s": self.best,
            "median_s": statistics.median(self.times),
            "ns_per_write": self.ns_per_write,
            "gb_per_s": self.gbps,
        }


def measure(case: Case, rounds_by_alt: Dict[str, Round], rounds: int, budget: float = 0.0,
            max_rounds: int = 0) -> Dict[str, List[float]]:
    """Run the rounds of every alternative interleaved; their times, by alternative.

    One warm-up round each first. With a *budget* (seconds), the number of
    rounds grows from *rounds* toward *max_rounds* while the budget allows.
    Each round starts from a different alternative, so none always follows
    the same one.
    """
    order = list(rounds_by_alt)
    warm = sum(rounds_by_alt[name]() for name in order)
    if budget and max_rounds > rounds and warm > 0:
        rounds = max(rounds, min(max_rounds, int(budget / warm)))
    times: Dict[str, List[float]] = {name: [] for name in order}
    for r in range(rounds):
        k = r % len(order)
        for name in order[k:] + order[:k]:
            times[name].append(rounds_by_alt[name]())
    return times


def run(mode: str = "cli", rounds: int = 3, budget: float = 1.5, max_rounds: int = 15,
        progress: Optional[Callable[[str], None]] = None,
        alternatives: Optional[Dict[str, Alternative]] = None) -> List[Result]:
    """Measure every case of *mode* against every alternative; the results in table order."""
    alts = alternatives if alternatives is not None else load_alternatives()
    alts.setdefault("direct", Alternative("direct"))
    alts.setdefault("memmove", Alternative("memmove"))
    results: List[Result] = []
    all_cases = cases(mode)
    for index, case in enumerate(all_cases, 1):
        runnable: Dict[str, Round] = {}
        skipped: Dict[str, str] = {}
        for name in case.alternatives:
            try:
                runnable[name] = build_round(case, alts[name])
            except Skip as exc:
                skipped[name] = str(exc)
        times = measure(case, runnable, rounds, budget, max_rounds) if runnable else {}
        row = [Result(case, name, times.get(name, []), skipped.get(name, "")) for name in case.alternatives]
        results += row
        if progress is not None:
            done = ", ".join(
                f"{r.alt} {r.ns_per_write:,.0f} ns" for r in row if not r.skipped
            )
            progress(f"[{index}/{len(all_cases)}] {case.key}: {done}")
    return results


# -- output -----------------------------------------------------------------------------


def _fmt_ns(ns: float) -> str:
    return f"{ns:,.1f}" if ns < 100 else f"{ns:,.0f}"


def paired_ratio(compiled: Sequence[float], other: Sequence[float]) -> float:
    """Median over rounds of compiled's time / the other's time in the same round."""
    return statistics.median(c / o for c, o in zip(compiled, other))


def _vs(compiled: Optional[Result], other: Result) -> str:
    if compiled is None or compiled.skipped or other.alt == "compiled":
        return ""
    ratio = other.best / compiled.best
    if ratio >= 1:
        return f"compiled {ratio:,.2f}x faster" if ratio < 100 else f"compiled {ratio:,.0f}x faster"
    return f"compiled {1 / ratio:,.2f}x slower"


def format_table(results: Sequence[Result]) -> str:
    """The side-by-side table: ns per write, GB/s and how compiled compares, per case."""
    lines = [f"{'case':<34} {'alternative':<10} {'ns/write':>10} {'GB/s':>8}  compiled vs it"]
    lines.append("-" * len(lines[0]) + "-" * 12)
    by_case: Dict[str, List[Result]] = {}
    for r in results:
        by_case.setdefault(r.case.key, []).append(r)
    for key, row in by_case.items():
        compiled = next((r for r in row if r.alt == "compiled" and not r.skipped), None)
        first = True
        for r in row:
            label = key if first else ""
            first = False
            if r.skipped:
                reason = r.skipped if len(r.skipped) < 60 else r.skipped.split(":")[0]
                lines.append(f"{label:<34} {r.alt:<10} {'-':>10} {'-':>8}  {reason}")
            else:
                lines.append(
                    f"{label:<34} {r.alt:<10} {_fmt_ns(r.ns_per_write):>10} {r.gbps:>8.2f}  {_vs(compiled, r)}"
                )
    return "\n".join(lines)


def notes(alts: Dict[str, Alternative]) -> List[str]:
    """What the table does not say: missing alternatives, Twisted's bytes failure, skips."""
    out = []
    for name in ALTERNATIVES:
        alt = alts.get(name)
        if alt is None:
            continue
        if alt.missing:
            out.append(f"{name}: {alt.missing}")
        elif alt.note:
            out.append(f"{name}: {alt.note}")
    if alts.get("twisted") and not alts["twisted"].missing:
        out.append(f"twisted: {TWISTED_SKIP}")
    out.append("direct: the consumer's write called in the same loop, no proxy")
    out.append("memmove: the same chunks copied into a reused bytearray the size of one flush "
               "(the physical reference: no allocation)")
    return out


def environment() -> Dict[str, Any]:
    """Where the figures were measured."""
    import pcp

    try:
        from twisted import __version__ as twisted_version
    except ImportError:
        twisted_version = None
    return {
        "pcp": pcp.__version__,
        "extensions": pcp.EXTENSIONS,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "twisted": twisted_version,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def to_json(results: Sequence[Result], alts: Dict[str, Alternative]) -> Dict[str, Any]:
    """The raw figures: every round of every alternative on every case."""
    out: Dict[str, Any] = {"environment": environment(), "notes": notes(alts), "cases": {}}
    for r in results:
        entry = out["cases"].setdefault(r.case.key, {
            "workload": r.case.workload,
            "writes_per_round": r.case.writes,
            "bytes_per_round": r.case.nbytes,
            "chunk": r.case.chunk,
            "alternatives": {},
        })
        entry["alternatives"][r.alt] = r.as_dict()
    return out


def plot(results: Sequence[Result], path: str) -> None:
    """Draw ns per write against N for the buffered workload, log-log, to *path*."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in ALTERNATIVES:
        points = sorted(
            (r.case.n, r.ns_per_write)
            for r in results
            if r.case.workload == "buffered" and r.alt == name and not r.skipped
        )
        if points:
            xs, ys = zip(*points)
            label = {
                "compiled": "pcp compiled",
                "twin": "pcp pure-Python twin",
                "reference": "plain Python reference",
                "twisted": "twisted.protocols.pcp (flush timed on str)",
            }[name]
            ax.plot(xs, ys, marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("N (64-byte writes buffered, then one flush)")
    ax.set_ylabel("ns per write (its share of the flush included)")
    ax.set_title("Per-write cost of a paused proxy")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _matplotlib_missing() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return True
    return False


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: run the quick side-by-side and print the table."""
    parser = argparse.ArgumentParser(
        prog="python -m pcp.bench",
        description="Quick side-by-side of pcp compiled, its pure-Python twin, a plain "
        "Python reference proxy and Twisted's twisted.protocols.pcp.",
    )
    parser.add_argument("--plot", metavar="FILE.png", help="draw ns per write against N (log-log) to FILE.png")
    parser.add_argument("--json", metavar="FILE", help="write the raw figures (every round) to FILE as JSON")
    parser.add_argument("--rounds", type=int, default=3, help="least rounds per case (default 3)")
    parser.add_argument("--budget", type=float, default=1.0,
                        help="seconds per case that extra rounds may use (default 1.0)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes and one round: checks that the command works, measures nothing useful")
    args = parser.parse_args(argv)

    if args.plot and _matplotlib_missing():
        print(
            "pcp.bench: --plot needs matplotlib, which is not installed.\n"
            "Install the bench extra: python -m pip install 'pcp-buffer[bench]'",
            file=sys.stderr,
        )
        return 2
    alts = load_alternatives()
    if alts["compiled"].missing:
        print(f"pcp.bench: compiled: {alts['compiled'].missing}; its column is empty", file=sys.stderr)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    started = time.perf_counter()
    if args.smoke:
        results = run("smoke", rounds=1, budget=0.0, progress=progress, alternatives=alts)
    else:
        results = run("cli", rounds=max(1, args.rounds), budget=args.budget, max_rounds=max(args.rounds, 15),
                      progress=progress, alternatives=alts)
    print()
    print(format_table(results))
    print()
    for line in notes(alts):
        print(f"note: {line}")
    print(f"({time.perf_counter() - started:.0f} s; best of interleaved rounds; "
          f"GB/s = 1e9 bytes per second; the release gate: python -m benchmarks.gate)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(to_json(results, alts), fh, indent=1)
        print(f"raw figures written to {args.json}")
    if args.plot:
        plot(results, args.plot)
        print(f"plot written to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
