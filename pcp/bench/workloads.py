"""The workloads, written once: what one round does to one alternative.

Every round starts from a **fresh proxy**, as a user's new connection does:
building it, registering its producer and everything it writes and flushes is
inside the measured part; making the chunks and checking the consumer's count
are not. ``build_round(case, alt)`` returns a *prepare* callable; each call of
it makes a new round and returns ``(run, check)``: ``run()`` is what gets
measured (in time, instructions or memory), ``check()`` raises when the
consumer did not receive exactly the bytes of the round.

Chunks: ``same`` writes one bytes object N times; ``distinct`` writes N
different objects made before the round; ``fresh`` makes each chunk inside the
round (a slice of a larger bytes, as ``recv()`` hands out a new object per
read), so a proxy that keeps the objects instead of copying them is charged
the memory they hold.

Twisted's proxy raises TypeError when it flushes buffered bytes on Python 3:
its writes run with bytes and, just before each flush, its buffer's entries
are swapped for ``str`` of the same sizes; the pull and churn workloads, where
every step flushes, run on ``str``. Its write path re-sums the whole buffer on
every write (quadratic), so it is skipped above N = 1e4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, List, Sequence, Tuple

from pcp.bench.alternatives import ALTERNATIVES, PHYSICAL, Alternative
from pcp.bench.parts import CountingConsumer, PullProducer, StreamingProducer

__all__ = [
    "KIB",
    "MIB",
    "SMALL",
    "TWISTED_MAX_N",
    "TWISTED_SKIP",
    "Case",
    "Prepare",
    "Skip",
    "buffered",
    "build_round",
    "churn",
    "large",
    "partial",
    "passthrough",
]

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
CHUNK_KINDS = ("same", "distinct", "fresh")

Run = Callable[[], None]
Prepare = Callable[[], Tuple[Run, Run]]


class Skip(Exception):
    """An alternative that cannot run a case (the message says why)."""


@dataclass(frozen=True)
class Case:
    """One workload at one size: what a round does, and how much."""

    workload: str
    label: str
    writes: int  # producer writes per round
    nbytes: int  # bytes through per round
    n: int = 0  # buffered, passthrough: writes; churn: cycles
    chunk: int = SMALL
    chunks: str = "same"
    per_flush: int = 0  # large: writes per flush
    total: int = 0  # large, partial: bytes per round

    @property
    def key(self) -> str:
        """A stable name, used by the gate's thresholds."""
        return f"{self.workload}[{self.label}]"

    @property
    def alternatives(self) -> Sequence[str]:
        """The alternatives that run this case, physical reference last."""
        extra = PHYSICAL.get(self.workload)
        return ALTERNATIVES + ((extra,) if extra else ())


def size_text(n: int) -> str:
    """1 MiB as ``1MiB``, 65536 as ``64KiB``, 64 as ``64B``."""
    if n >= MIB and n % MIB == 0:
        return f"{n // MIB}MiB"
    if n >= KIB and n % KIB == 0:
        return f"{n // KIB}KiB"
    return f"{n}B"


def count_text(n: int) -> str:
    """1000 as ``1e3``; other counts as they are."""
    exp = len(str(n)) - 1
    return f"1e{exp}" if n == 10**exp else str(n)


def buffered(n: int, chunks: str = "same") -> Case:
    """N writes of 64 B into a paused proxy, then one flush."""
    if chunks not in CHUNK_KINDS:
        raise ValueError(f"chunks must be one of {CHUNK_KINDS}, not {chunks!r}")
    return Case("buffered", f"N={count_text(n)},{chunks}", writes=n, nbytes=n * SMALL, n=n, chunks=chunks)


def passthrough(chunk: int = SMALL, n: int = 20_000) -> Case:
    """*n* writes of *chunk* bytes passed straight on by an unpaused proxy."""
    return Case("passthrough", size_text(chunk), writes=n, nbytes=n * chunk, n=n, chunk=chunk)


def large(chunk: int, total: int, per_flush: int = 0) -> Case:
    """*total* bytes in *chunk* writes, flushed once (per_flush=0) or every *per_flush* writes."""
    count = total // chunk
    if count < 1 or (per_flush and count % per_flush):
        raise ValueError(f"{total} bytes is not a whole number of flushes of {per_flush} x {chunk} bytes")
    every = f"every{per_flush}" if per_flush else "once"
    return Case("large", f"{size_text(chunk)}x{count},{every}", writes=count, nbytes=count * chunk,
                chunk=chunk, per_flush=per_flush or count, total=count * chunk)


def partial(total: int) -> Case:
    """*total* bytes pulled in 64 KiB writes through a proxy whose consumer takes 16 KiB per call."""
    return Case("partial", size_text(total), writes=total // PULL_CHUNK, nbytes=total,
                chunk=PULL_CHUNK, total=total)


def churn(cycles: int) -> Case:
    """*cycles* crossings of the high and low marks, four 64 B writes each."""
    return Case("churn", f"cycles={count_text(cycles)}", writes=4 * cycles, nbytes=4 * cycles * SMALL, n=cycles)


# -- rounds ---------------------------------------------------------------------------


def build_round(case: Case, alt: Alternative) -> Prepare:
    """The round maker of *case* on *alt*; raises Skip if *alt* cannot run it."""
    if alt.name == "direct":
        if case.workload != "passthrough":
            raise Skip(f"direct writes are the reference of passthrough, not of {case.workload}")
        return _direct(case)
    if alt.name == "memmove":
        if case.workload != "large":
            raise Skip(f"memmove is the reference of large, not of {case.workload}")
        return _memmove(case)
    if alt.cls is None:
        raise Skip(f"{alt.name}: {alt.missing}")
    if case.workload == "buffered":
        if alt.twisted and case.n > TWISTED_MAX_N:
            raise Skip(TWISTED_SKIP)
        return _flush_cycles(alt, case, case.n, 1)
    if case.workload == "passthrough":
        return _passthrough(alt.cls, case)
    if case.workload == "large":
        return _flush_cycles(alt, case, case.per_flush, case.writes // case.per_flush)
    if case.workload == "partial":
        return _partial(alt, case)
    if case.workload == "churn":
        return _churn(alt, case)
    raise ValueError(f"unknown workload {case.workload!r}")


def _checker(consumer: CountingConsumer, expected: int, what: str) -> Run:
    def check() -> None:
        if consumer.received != expected:
            raise RuntimeError(f"{what}: the consumer received {consumer.received} bytes, expected {expected}")

    return check


def _chunk_list(case: Case, count: int) -> List[bytes]:
    if case.chunks == "distinct":
        return [i.to_bytes(8, "little") * (case.chunk // 8) for i in range(count)]
    return [b"x" * case.chunk] * count


def _flush_cycles(alt: Alternative, case: Case, per_flush: int, cycles: int) -> Prepare:
    """Cycles of: pause, *per_flush* writes, resume (one flush), on a fresh proxy."""
    cls: Any = alt.cls
    what = f"{case.key} on {alt.name}"
    text = ["x" * case.chunk] * per_flush if alt.twisted else None
    fresh = case.chunks == "fresh"

    def prepare() -> Tuple[Run, Run]:
        consumer = CountingConsumer()
        size = case.chunk
        chunks: Any = (bytes(range(256)) * (per_flush * size // 256 + 1)) if fresh else _chunk_list(case, per_flush)
        offsets = range(0, per_flush * size, size)

        def run() -> None:
            proxy = cls(consumer)
            proxy.registerProducer(StreamingProducer(), True)
            write, pause, resume = proxy.write, proxy.pauseProducing, proxy.resumeProducing
            for _ in range(cycles):
                pause()
                if fresh:
                    for i in offsets:
                        write(chunks[i:i + size])
                else:
                    for chunk in chunks:
                        write(chunk)
                if text is not None:
                    proxy._buffer[:] = text
                resume()

        return run, _checker(consumer, cycles * per_flush * case.chunk, what)

    return prepare


def _passthrough(cls: type, case: Case) -> Prepare:
    def prepare() -> Tuple[Run, Run]:
        consumer = CountingConsumer()
        chunks = _chunk_list(case, case.n)

        def run() -> None:
            proxy = cls(consumer)
            proxy.registerProducer(StreamingProducer(), True)
            write = proxy.write
            for chunk in chunks:
                write(chunk)

        return run, _checker(consumer, case.nbytes, f"{case.key} on {cls.__qualname__}")

    return prepare


def _direct(case: Case) -> Prepare:
    def prepare() -> Tuple[Run, Run]:
        consumer = CountingConsumer()
        chunks = _chunk_list(case, case.n)

        def run() -> None:
            write = consumer.write
            for chunk in chunks:
                write(chunk)

        return run, _checker(consumer, case.nbytes, f"{case.key} direct")

    return prepare


def _memmove(case: Case) -> Prepare:
    """The same bytes copied into a bytearray the size of one flush, allocated before the round."""
    size = case.chunk
    cycles = case.writes // case.per_flush

    def prepare() -> Tuple[Run, Run]:
        chunk = b"x" * size
        dst = memoryview(bytearray(b"y" * (case.per_flush * size)))
        offsets = [i * size for i in range(case.per_flush)]

        def run() -> None:
            for _ in range(cycles):
                for offset in offsets:
                    dst[offset:offset + size] = chunk

        def check() -> None:
            if bytes(dst[-size:]) != chunk:
                raise RuntimeError(f"{case.key} memmove: the copy did not land")

        return run, check

    return prepare


def _partial(alt: Alternative, case: Case) -> Prepare:
    cls: Any = alt.cls

    class PartialPullProxy(cls):  # type: ignore[misc]
        iAmStreaming = False

        def _writeSomeData(self, data: Any) -> int:
            n = len(data)
            if n > PARTIAL_LIMIT:
                n = PARTIAL_LIMIT
                data = data[:n]
            self.consumer.write(data)
            return n

    chunk: Any = "x" * case.chunk if alt.twisted else b"x" * case.chunk
    limit = 4 * case.total // PARTIAL_LIMIT + 100

    def prepare() -> Tuple[Run, Run]:
        consumer = CountingConsumer()
        total = case.total

        def run() -> None:
            proxy = PartialPullProxy(consumer)
            producer = PullProducer(chunk, total)
            producer.consumer = proxy
            proxy.registerProducer(producer, False)
            pull = proxy.resumeProducing
            pulls = 0
            while consumer.received < total and pulls < limit:
                pull()
                pulls += 1

        return run, _checker(consumer, total, f"{case.key} on {alt.name}")

    return prepare


def _churn(alt: Alternative, case: Case) -> Prepare:
    cls: Any = alt.cls
    chunk: Any = "x" * SMALL if alt.twisted else b"x" * SMALL
    cycles = case.n

    def prepare() -> Tuple[Run, Run]:
        consumer = CountingConsumer()
        producer = StreamingProducer()

        def run() -> None:
            proxy = cls(consumer)
            proxy.bufferSize = CHURN_HIGH
            proxy.registerProducer(producer, True)
            write, pause, resume = proxy.write, proxy.pauseProducing, proxy.resumeProducing
            for _ in range(cycles):
                pause()
                write(chunk)
                write(chunk)
                write(chunk)
                write(chunk)
                resume()

        bytes_check = _checker(consumer, case.nbytes, f"{case.key} on {alt.name}")

        def check() -> None:
            bytes_check()
            if producer.pauses != cycles or producer.resumes != cycles:
                raise RuntimeError(
                    f"{case.key} on {alt.name}: the producer was paused {producer.pauses} and "
                    f"resumed {producer.resumes} times in {cycles} cycles")

        return run, check

    return prepare
