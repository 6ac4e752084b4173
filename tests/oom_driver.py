"""Out-of-memory driver: fail allocations during one operation, then check nothing was lost.

Run in a subprocess by ``tests/test_out_of_memory.py`` (a crash is then a test
failure, not a dead run)::

    python oom_driver.py KIND MODE SCENARIO [SCENARIO ...]

KIND is ``compiled``, ``twin`` or ``broken`` (the negative control: the
compiled classes with every write split in two calls, so a failure between
the halves leaves a write partly accepted). MODE is

- ``sweep``: for k = 0, 1, 2, ... build the scenario's state afresh, make
  allocation number k (alone) fail during its one operation, with
  ``_testcapi.set_nomemory(k, k + 1)``, until the operation completes five
  times in a row without an exception (or ``CAP`` runs: a failure);
- ``large``: build the scenario (tens of MiB), limit the address space with
  ``RLIMIT_AS`` to the current size plus a headroom, run the operation,
  lift the limit; for each headroom in ``HEADROOMS_MIB``.

After every run, with the hooks removed or the limit lifted: an exception
must be a MemoryError (raised by pcp or propagated from the consumer or
producer); ``bytesReceived == bytesSent + bufferedBytes``; each write offered
during the operation was accepted whole or refused whole; the consumer holds a
prefix of the accepted stream, ``bytesSent`` bytes long; then a cooperative
resume delivers every accepted byte once, in order, and a later write still
passes. A run that takes over ``RUN_TIMEOUT`` seconds (a flush that loops)
dumps its stack and is killed by SIGALRM. A ring must hold what it held before a failed operation, or what a
successful one leaves. One progress line per run (``run ...``) goes to stderr, and nothing else may;
stdout gets one JSON line: ``{"points": injected failures, "runs": ..., "problems": [...]}``.
"""

from __future__ import annotations

import faulthandler
import gc
import json
import random
import resource
import signal
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

CAP = 300  # runs per scenario and class in sweep mode
STREAK = 5  # clean completions in a row that end a sweep
HEADROOMS_MIB = (0, 1, 4, 20, 36, 68, 150)
MiB = 1 << 20
END = b"<end-marker>"
RUN_TIMEOUT = 60  # seconds per run: a run that loops dumps its stack and is killed (SIGALRM)


_blobs: Dict[Tuple[int, int], bytes] = {}


def blob(n: int, seed: int) -> bytes:
    """*n* reproducible pseudo-random bytes (so a reordering shows); made once."""
    key = (n, seed)
    if key not in _blobs:
        _blobs[key] = random.Random(seed).randbytes(n)
    return _blobs[key]


# -- implementations -------------------------------------------------------------


def load_kind(kind: str) -> Any:
    """The namespace of classes for *kind* (see the module docstring)."""
    from pcp._implementations import load

    if kind != "broken":
        return load(kind)
    ns = load("compiled")
    import types

    def split(base: type) -> type:
        def write(self: Any, data: Any) -> None:
            data = bytes(data)
            half = len(data) // 2
            base.write(self, data[:half])
            base.write(self, data[half:])

        return type(base.__name__, (base,), {"write": write})

    return types.SimpleNamespace(
        kind="broken",
        RingBuffer=ns.RingBuffer,
        BasicProducerConsumerProxy=split(ns.BasicProducerConsumerProxy),
        ProducerConsumerProxy=split(ns.ProducerConsumerProxy),
    )


_class_cache: Dict[Tuple[int, str], type] = {}


def proxy_class(ns: Any, name: str) -> type:
    """``basic``, ``buffered``, ``partial`` (a _writeSomeData taking ``window`` bytes) or ``pull``."""
    key = (id(ns), name)
    if key in _class_cache:
        return _class_cache[key]
    if name == "basic":
        cls = ns.BasicProducerConsumerProxy
    elif name == "buffered":
        cls = ns.ProducerConsumerProxy
    elif name == "partial":

        def _writeSomeData(self: Any, data: bytes) -> int:
            window = self.window
            n = len(data) if window is None else min(len(data), window)
            if n:
                self.consumer.write(data[:n] if n < len(data) else data)
            return n

        cls = type("Partial", (ns.ProducerConsumerProxy,), {"window": None, "_writeSomeData": _writeSomeData})
    elif name == "pull":
        cls = type("PullProxy", (ns.ProducerConsumerProxy,), {"iAmStreaming": False})
    else:
        raise ValueError(name)
    _class_cache[key] = cls
    return cls


# -- test doubles (no allocation on their paths that the checks rely on) --------


class Sink:
    """A consumer recording what it is given; the record is its last step."""

    def __init__(self) -> None:
        self.got: List[bytes] = []
        self.producer: Optional[tuple] = None
        self.calls: List[str] = []  # a new list per call: each callback allocates

    def write(self, data: bytes) -> None:
        if type(data) is not bytes or not data:
            raise AssertionError(f"consumer got {type(data).__name__} of {len(data)} bytes")
        self.got.append(data)

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.producer = (producer, streaming)

    def unregisterProducer(self) -> None:
        self.calls = self.calls + ["unregister"]

    def finish(self) -> None:
        self.calls = self.calls + ["finish"]


class Producer:
    """A push (or pull) producer writing its next chunk on each resumeProducing while live."""

    def __init__(self, proxy: Any, chunks: List[bytes], streaming: bool = True) -> None:
        self.proxy = proxy
        self.chunks = chunks
        self.streaming = streaming
        self.offered = 0
        self.log: List[str] = []  # a new list per call: each callback allocates
        self.live = True

    def resumeProducing(self) -> None:
        self.log = self.log + ["resume"]
        if self.live and self.offered < len(self.chunks):
            chunk = self.chunks[self.offered]
            self.offered += 1
            self.proxy.write(chunk)

    def pauseProducing(self) -> None:
        if not self.streaming:
            raise AssertionError("a pull producer was paused")
        self.log = self.log + ["pause"]

    def stopProducing(self) -> None:
        self.live = False


# -- cases -------------------------------------------------------------------------


class ProxyCase:
    """A proxy, its sink, what it accepted so far, and the one operation to run."""

    def __init__(self, ns: Any, cls_name: str) -> None:
        self.sink = Sink()
        self.proxy = proxy_class(ns, cls_name)(self.sink)
        self.stream: List[bytes] = []
        self.producer: Optional[Producer] = None
        self.op: Callable[[], Any] = lambda: None
        self.payload: Optional[Any] = None  # what op writes directly, if anything

    def write(self, data: Any) -> None:
        """Setup: write *data*, which must be accepted."""
        before = self.proxy.bytesReceived
        self.proxy.write(data)
        assert self.proxy.bytesReceived - before == len(bytes(data)), "setup write not accepted"
        self.stream.append(bytes(data))

    def producer_of(self, chunks: List[bytes], streaming: bool = True) -> Producer:
        self.producer = Producer(self.proxy, chunks, streaming)
        return self.producer

    def register(self, chunks: List[bytes], streaming: bool = True) -> None:
        """Setup: register a producer (a pull producer is pulled, its writes accepted)."""
        p = self.producer_of(chunks, streaming)
        before = p.offered
        self.proxy.registerProducer(p, streaming)
        self.stream.extend(chunks[before : p.offered])

    def writes(self, payload: Any) -> None:
        """The operation: write *payload*."""
        self.payload = payload
        self.op = lambda: self.proxy.write(payload)

    def snapshot(self) -> Tuple[int, int]:
        return self.proxy.bytesReceived, (self.producer.offered if self.producer else 0)

    def check(self, before: Tuple[int, int], exc: Optional[BaseException], result: Any) -> List[str]:
        problems: List[str] = []
        p = self.proxy
        if exc is not None and not isinstance(exc, MemoryError):
            problems.append(f"unclean exception {type(exc).__name__}: {exc}")
        received, sent, buffered = p.bytesReceived, p.bytesSent, p.bufferedBytes
        if received != sent + buffered:
            problems.append(f"bytesReceived {received} != bytesSent {sent} + bufferedBytes {buffered}")
        offered: List[bytes] = []
        if self.payload is not None:
            offered.append(bytes(self.payload))
        if self.producer is not None:
            offered.extend(self.producer.chunks[before[1] : self.producer.offered])
        delta = received - before[0]
        sums = [0]
        for chunk in offered:
            sums.append(sums[-1] + len(chunk))
        allowed = {len(offered)} if exc is None else {len(offered), max(len(offered) - 1, 0)}
        taken = [j for j in allowed if sums[j] == delta]
        if not taken:
            problems.append(
                f"accepted {delta} bytes of writes of {[len(c) for c in offered]} bytes "
                f"(partly accepted, or counted and lost)"
            )
            accepted = offered
        else:
            accepted = offered[: taken[0]]
        stream = b"".join(self.stream + accepted)
        got = b"".join(self.sink.got)
        if len(got) != sent:
            problems.append(f"consumer holds {len(got)} bytes, bytesSent says {sent}")
        if got != stream[: len(got)]:
            problems.append("consumer holds bytes that are not a prefix of the accepted stream")
        # A cooperative consumer, a producer that writes no more: everything goes out.
        if self.producer is not None:
            self.producer.live = False
        if hasattr(p, "window"):
            p.window = None
        try:
            p.resumeProducing()
            p.write(END)
            if p.bufferedBytes:
                p.resumeProducing()
        except BaseException as e:  # noqa: B902 - reported
            problems.append(f"the flush after the failure raised {type(e).__name__}: {e}")
        got = b"".join(self.sink.got)
        if got != stream + END:
            problems.append(
                f"after a cooperative flush the consumer holds {len(got)} bytes, "
                f"expected {len(stream) + len(END)}"
                + (" (same length, different bytes)" if len(got) == len(stream) + len(END) else "")
            )
        if p.bufferedBytes or p.bytesReceived != p.bytesSent:
            problems.append(
                f"after the flush: bufferedBytes {p.bufferedBytes}, "
                f"bytesReceived {p.bytesReceived}, bytesSent {p.bytesSent}"
            )
        if self.sink.calls.count("unregister") > 1 or self.sink.calls.count("finish") > 1:
            problems.append(f"consumer told twice: {self.sink.calls}")
        return problems


class RingCase:
    """A ring, its content before the operation, and what a successful operation gives."""

    def __init__(self, ns: Any, capacity: int = 4096) -> None:
        self.ring = ns.RingBuffer(capacity)
        self.model = bytearray()
        self.op: Callable[[], Any] = lambda: None
        self.after: bytes = b""
        self.result: Any = None

    def write(self, data: bytes) -> None:
        self.ring.write(data)
        self.model += data

    def read(self, n: int) -> None:
        got = self.ring.read(n)
        assert got == self.model[:n]
        del self.model[:n]

    def snapshot(self) -> Tuple[int, int]:
        return (0, 0)

    def check(self, before: Tuple[int, int], exc: Optional[BaseException], result: Any) -> List[str]:
        problems: List[str] = []
        if exc is not None and not isinstance(exc, MemoryError):
            problems.append(f"unclean exception {type(exc).__name__}: {exc}")
        held = self.ring.peek()
        if exc is not None:
            if held != self.model:
                problems.append(f"a failed operation changed the ring: {len(self.model)} -> {len(held)} bytes")
        else:
            if held != self.after:
                problems.append(f"the ring holds {len(held)} bytes, expected {len(self.after)}")
            if result != self.result:
                problems.append("the operation returned the wrong bytes")
        if len(self.ring) != len(held) or self.ring.capacity < len(held):
            problems.append(f"len {len(self.ring)} / capacity {self.ring.capacity} for {len(held)} bytes")
        try:
            self.ring.write(END)
            out = self.ring.read()
        except BaseException as e:  # noqa: B902 - reported
            problems.append(f"using the ring after the failure raised {type(e).__name__}: {e}")
        else:
            if out != held + END or len(self.ring):
                problems.append("the ring lost or reordered bytes after the failure")
        return problems


# -- scenarios -------------------------------------------------------------------

ALL = ("basic", "buffered", "partial")
BUFFERED = ("buffered", "partial")


def _ring(ns: Any, cls_name: str, capacity: int, fill: List[Tuple[str, int]], op: str, arg: int) -> RingCase:
    case = RingCase(ns, capacity)
    seed = 1
    for what, n in fill:
        if what == "w":
            case.write(blob(n, seed))
            seed += 1
        else:
            case.read(n)
    before = bytes(case.model)
    if op == "write":
        data = blob(arg, 99)
        case.after, case.result = before + data, None
        case.op = lambda: case.ring.write(data)
    elif op in ("read", "peek"):
        n = len(before) if arg < 0 else arg
        case.result = before[:n]
        case.after = before[n:] if op == "read" else before
        case.op = (lambda: case.ring.read(arg)) if op == "read" else (lambda: case.ring.peek(arg))
    elif op == "advance":
        case.after, case.result = before[arg:], None
        case.op = lambda: case.ring.advance(arg)
    elif op == "clear":
        case.after, case.result = b"", None
        case.op = case.ring.clear
    case.model = bytearray(before)
    return case


def _paused(ns: Any, cls_name: str, sizes: List[int], window: Optional[int] = None) -> ProxyCase:
    case = ProxyCase(ns, cls_name)
    case.proxy.pauseProducing()
    for i, n in enumerate(sizes):
        case.write(blob(n, 100 + i) if n > 0 else bytearray(blob(-n, 100 + i)))
    if window is not None:
        case.proxy.window = window
    return case


def s_paused_write(payload_factory: Callable[[], Any], sizes: List[int]) -> Callable[[Any, str], ProxyCase]:
    def build(ns: Any, cls_name: str) -> ProxyCase:
        case = _paused(ns, cls_name, sizes)
        case.writes(payload_factory())
        return case

    return build


def s_passthrough(payload_factory: Callable[[], Any], window: Optional[int] = None, backlog: int = 0):
    def build(ns: Any, cls_name: str) -> ProxyCase:
        case = ProxyCase(ns, cls_name)
        if backlog:
            case.proxy.window = 300
            case.write(blob(backlog, 7))  # the consumer takes 300, the rest stays buffered
        if window is not None:
            case.proxy.window = window
        case.writes(payload_factory())
        return case

    return build


def s_resume(sizes: List[int], window: Optional[int] = None):
    def build(ns: Any, cls_name: str) -> ProxyCase:
        case = _paused(ns, cls_name, sizes, window if cls_name == "partial" else None)
        case.op = case.proxy.resumeProducing
        return case

    return build


def s_unregister(finish: bool, buffered: bool):
    def build(ns: Any, cls_name: str) -> ProxyCase:
        case = ProxyCase(ns, cls_name)
        case.register([], True)
        if buffered:
            case.proxy.pauseProducing()
            case.write(blob(300, 1))
            case.write(blob(5000, 2))
        case.op = case.proxy.finish if finish else case.proxy.unregisterProducer
        return case

    return build


def s_register(streaming: bool):
    def build(ns: Any, cls_name: str) -> ProxyCase:
        case = ProxyCase(ns, cls_name)
        if streaming:
            case.proxy.bufferSize = 1000
            case.proxy.pauseProducing()
            case.write(blob(2000, 1))
        producer = case.producer_of([blob(300, 10 + i) for i in range(4)], streaming)
        case.op = lambda: case.proxy.registerProducer(producer, streaming)
        return case

    return build


def s_watermark_pause(ns: Any, cls_name: str) -> ProxyCase:
    case = ProxyCase(ns, cls_name)
    case.proxy.bufferSize = 1000
    case.register([], True)
    case.proxy.pauseProducing()
    case.write(blob(800, 1))
    case.writes(blob(500, 2))
    return case


def s_watermark_resume(ns: Any, cls_name: str) -> ProxyCase:
    case = ProxyCase(ns, cls_name)
    if cls_name != "basic":
        case.proxy.bufferSize = 1000
        case.proxy.lowWater = 100
    case.register([blob(200, 10 + i) for i in range(3)], True)
    case.proxy.pauseProducing()
    case.write(blob(700, 1))
    case.write(blob(800, 2))
    case.op = case.proxy.resumeProducing
    return case


def s_pull_proxy_resume(ns: Any, cls_name: str) -> ProxyCase:
    case = ProxyCase(ns, "pull")
    case.register([blob(300, 10 + i) for i in range(4)], False)
    case.proxy.pauseProducing()
    case.write(blob(500, 3))
    case.op = case.proxy.resumeProducing
    return case


def s_chunk_queue(ns: Any, cls_name: str) -> ProxyCase:
    sizes: List[int] = []
    for i in range(100):
        sizes += [5000, 37]  # large chunks queued by reference, small ones between
    case = _paused(ns, cls_name, sizes, 5037 * 70 + 11 if cls_name == "partial" else None)
    case.op = case.proxy.resumeProducing
    return case


SCENARIOS: Dict[str, Tuple[Tuple[str, ...], Callable[[Any, str], Any]]] = {
    # the ring on its own
    "ring_write_small": (("ring",), lambda ns, c: _ring(ns, c, 4096, [("w", 100)], "write", 200)),
    "ring_write_growth": (("ring",), lambda ns, c: _ring(ns, c, 64, [("w", 50)], "write", 100)),
    "ring_write_large": (("ring",), lambda ns, c: _ring(ns, c, 4096, [("w", 1000)], "write", 100_000)),
    "ring_growth_while_wrapped": (
        ("ring",),
        lambda ns, c: _ring(ns, c, 256, [("w", 200), ("r", 150), ("w", 150)], "write", 300),
    ),
    "ring_read": (("ring",), lambda ns, c: _ring(ns, c, 4096, [("w", 3000), ("r", 2000), ("w", 2500)], "read", 2000)),
    "ring_read_all": (("ring",), lambda ns, c: _ring(ns, c, 4096, [("w", 3000), ("r", 2000), ("w", 2500)], "read", -1)),
    "ring_peek": (("ring",), lambda ns, c: _ring(ns, c, 4096, [("w", 3000), ("r", 2000), ("w", 2500)], "peek", 2500)),
    "ring_advance_shrink": (
        ("ring",),
        lambda ns, c: _ring(ns, c, 64, [("w", 65536), ("r", 65536), ("w", 1024)], "advance", 1024),
    ),
    "ring_clear": (("ring",), lambda ns, c: _ring(ns, c, 64, [("w", 65536), ("r", 60000)], "clear", 0)),
    # proxies: paused writes
    "paused_write_small": (ALL, s_paused_write(lambda: blob(100, 9), [100, 100, 100])),
    "paused_write_large": (ALL, s_paused_write(lambda: blob(65536, 9), [100, 8192])),
    "paused_write_bytearray": (ALL, s_paused_write(lambda: bytearray(blob(5000, 9)), [100])),
    "paused_write_memoryview": (ALL, s_paused_write(lambda: memoryview(blob(7000, 9))[500:6500], [100, 8192])),
    "paused_write_ring_growth": (ALL, s_paused_write(lambda: bytearray(blob(3000, 9)), [-1000, -1000, -1000, -1000])),
    # proxies: pass-through and partial writes
    "passthrough_bytes": (ALL, s_passthrough(lambda: blob(1000, 9))),
    "passthrough_bytearray": (ALL, s_passthrough(lambda: bytearray(blob(1000, 9)))),
    "passthrough_large": (ALL, s_passthrough(lambda: blob(100_000, 9))),
    "partial_write": (("partial",), s_passthrough(lambda: blob(10_000, 9), window=300)),
    "partial_write_bytearray": (("partial",), s_passthrough(lambda: bytearray(blob(10_000, 9)), window=300)),
    "partial_write_with_backlog": (("partial",), s_passthrough(lambda: blob(2000, 9), window=500, backlog=1000)),
    # proxies: flush on resume
    "resume_single_large": (ALL, s_resume([100_000])),
    "resume_mixed": (ALL, s_resume([100, 8192, -50, 20_000, 300], window=9000)),
    "resume_small_only": (ALL, s_resume([100, -200, 300], window=250)),
    "resume_chunk_queue": (ALL, s_chunk_queue),
    # proxies: producers, marks, unregister, finish
    "unregister_buffered": (ALL, s_unregister(finish=False, buffered=True)),
    "finish_buffered": (ALL, s_unregister(finish=True, buffered=True)),
    "unregister_empty": (ALL, s_unregister(finish=False, buffered=False)),
    "register_push_over_mark": (BUFFERED, s_register(True)),
    "register_pull": (ALL, s_register(False)),
    "watermark_pause": (BUFFERED, s_watermark_pause),
    "watermark_resume": (ALL, s_watermark_resume),
    "pull_proxy_resume": (("pull",), s_pull_proxy_resume),
}


# Large scenarios: the allocation that fails is one of tens of MiB.
def l_ring_growth_while_wrapped(ns: Any, cls_name: str) -> RingCase:
    # 32 MiB allocated, 14 MiB held across the wrap: 20 MiB more needs a new 64 MiB block.
    return _ring(ns, cls_name, 4096, [("w", 24 * MiB), ("r", 20 * MiB), ("w", 10 * MiB)], "write", 20 * MiB)


def l_ring_read(ns: Any, cls_name: str) -> RingCase:
    return _ring(ns, cls_name, 4096, [("w", 24 * MiB)], "read", -1)


LARGE_SCENARIOS: Dict[str, Tuple[Tuple[str, ...], Callable[[Any, str], Any]]] = {
    "ring_growth_while_wrapped": (("ring",), l_ring_growth_while_wrapped),
    "ring_read": (("ring",), l_ring_read),
    "paused_write_bytearray": (ALL, s_paused_write(lambda: bytearray(blob(24 * MiB, 9)), [-4 * MiB])),
    "passthrough_bytearray": (ALL, s_passthrough(lambda: bytearray(blob(32 * MiB, 9)))),
    "partial_write": (("partial",), s_passthrough(lambda: blob(32 * MiB, 9), window=MiB)),
    "partial_write_with_backlog": (("partial",), s_passthrough(lambda: blob(32 * MiB, 9), window=MiB, backlog=1000)),
    "resume_mixed": (ALL, s_resume([16 * MiB, -MiB, 16 * MiB], window=MiB)),
    "resume_chunk_queue": (ALL, s_resume([MiB] * 32, window=3 * MiB)),
}


# -- runners --------------------------------------------------------------------


UNRAISABLE: List[str] = []


def _unraisable(info: Any) -> None:
    # What would be printed as "Exception ignored in ...": an error pcp could not raise.
    UNRAISABLE.append(f"exception ignored in {info.object!r}: {info.exc_type.__name__}: {info.exc_value}")


def run_once(case: Any, arm: Callable[[], None], disarm: Callable[[], None]) -> Tuple[Optional[BaseException], Any]:
    """Run *case*'s operation between *arm* and *disarm*; nothing else allocates in between."""
    exc: Optional[BaseException] = None
    del UNRAISABLE[:]
    result = None
    op = case.op
    gc.disable()
    arm()
    try:
        result = op()
    except BaseException as e:  # noqa: B902 - checked by the caller
        exc = e
    finally:
        disarm()
        gc.enable()
    return exc, result


def checked(case: Any, before: Tuple[int, int], exc: Optional[BaseException], result: Any) -> List[str]:
    """The case's own checks, plus any error that was swallowed instead of raised."""
    found = case.check(before, exc, result)
    found += UNRAISABLE
    del UNRAISABLE[:]
    return found


def sweep(ns: Any, name: str, cls_name: str, build: Callable[[Any, str], Any]) -> Dict[str, Any]:
    import _testcapi

    problems: List[Dict[str, Any]] = []
    streak = 0
    k = 0
    while k < CAP:
        print(f"run {name} {cls_name} k={k}", file=sys.stderr, flush=True)
        signal.alarm(RUN_TIMEOUT)
        case = build(ns, cls_name)
        before = case.snapshot()
        exc, result = run_once(case, lambda: _testcapi.set_nomemory(k, k + 1), _testcapi.remove_mem_hooks)
        found = checked(case, before, exc, result)
        if found:
            problems.append({"scenario": name, "class": cls_name, "k": k, "exception": repr(exc), "problems": found})
            if len(problems) >= 5:
                break
        streak = streak + 1 if exc is None else 0
        if streak >= STREAK:
            break
        k += 1
    else:
        problems.append({"scenario": name, "class": cls_name, "problems": [f"still failing after {CAP} runs"]})
    return {"points": k + 1 - streak, "runs": k + 1, "problems": problems}


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def large(ns: Any, name: str, cls_name: str, build: Callable[[Any, str], Any], headrooms=HEADROOMS_MIB) -> Dict[str, Any]:
    problems: List[Dict[str, Any]] = []
    failures = 0
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    for headroom in headrooms:
        print(f"run {name} {cls_name} headroom={headroom}MiB", file=sys.stderr, flush=True)
        signal.alarm(RUN_TIMEOUT)
        case = build(ns, cls_name)
        gc.collect()
        before = case.snapshot()
        limit = _vm_size() + headroom * MiB
        exc, result = run_once(
            case,
            lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, hard)),
            lambda: resource.setrlimit(resource.RLIMIT_AS, (soft, hard)),
        )
        failures += exc is not None
        found = checked(case, before, exc, result)
        if found:
            problems.append(
                {"scenario": name, "class": cls_name, "headroom_mib": headroom, "exception": repr(exc), "problems": found}
            )
        del case, result, exc
        gc.collect()
    return {"points": failures, "runs": len(headrooms), "problems": problems}


def main(argv: List[str]) -> int:
    kind, mode, names = argv[0], argv[1], argv[2:]
    ns = load_kind(kind)
    sys.unraisablehook = _unraisable
    # No watchdog thread (its stack and malloc arena would count against RLIMIT_AS):
    # SIGALRM dumps the stack, then kills the process.
    faulthandler.register(signal.SIGALRM, chain=True)
    table = SCENARIOS if mode == "sweep" else LARGE_SCENARIOS
    total: Dict[str, Any] = {"points": 0, "runs": 0, "problems": [], "per_scenario": {}}
    for name in names:
        if name == "case1":
            # The case 1: 300 MiB through a consumer taking 1 MiB per call,
            # the address space limited to the current size + 128 MiB.
            build = s_passthrough(lambda: blob(MiB, 9) * 300, window=MiB)
            out = large(ns, name, "partial", build, headrooms=(128,))
            total["per_scenario"][name] = out["points"]
            total["points"] += out["points"]
            total["runs"] += out["runs"]
            total["problems"] += out["problems"]
            continue
        classes, build = table[name]
        for cls_name in classes:
            out = (sweep if mode == "sweep" else large)(ns, name, cls_name, build)
            total["per_scenario"][f"{name}[{cls_name}]"] = out["points"]
            total["points"] += out["points"]
            total["runs"] += out["runs"]
            total["problems"] += out["problems"]
    signal.alarm(0)
    print(json.dumps(total), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
