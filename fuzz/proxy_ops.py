"""Decode fuzzer input into proxy operations; check the stream and compiled == twin.

Shared by the atheris target (``fuzz/fuzz_proxy.py``) and the regression test
(``tests/test_fuzz_regressions.py``). An input picks a proxy class
(``BasicProducerConsumerProxy`` or ``ProducerConsumerProxy``, streaming or
pull, from ``pcp._implementations.load(kind)``) and a sequence of writes (all
accepted buffer types, small and large, empty, refused ones), pauses and
resumes, partial-write windows (``_writeSomeData`` taking part of a write),
mark changes (bufferSize, lowWater, maxBufferSize), push and pull producers
registered and unregistered, a consumer that pauses or resumes the proxy from
inside its write, finish and stop.

Checked after every operation, on each implementation:

- the consumer only gets non-empty exact bytes;
- what it got is a prefix of what the proxy accepted (each write that returned
  without raising, before a stop), each byte once, in order; a refused write
  (TypeError, BufferError, BufferFull) accepted nothing;
- ``bytesSent``, ``bytesReceived``, ``bufferedBytes``, ``bytesDiscarded``
  match that model;

and at the end, after the window is opened and the proxy resumed until
drained (unless stopped), the consumer got everything accepted. The compiled
and the twin runs must give the same trace: outcomes (exception type and
message), state and counters, consumer and producer events.
"""

from __future__ import annotations

import array
import sys
from typing import Any, List, Optional, Sequence, Tuple

from ring_ops import _BLOCK, _Reader, _bad_payload

__all__ = ["decode", "run", "run_both"]

_WINDOWS = (0, 1, 7, 50, 1000, 5000, sys.maxsize)
_MARKS = {
    "bufferSize": (0, 10, 100, 1000, 5000, 20000, 65536),
    "lowWater": (None, 0, 5, 50, 500, 4000),
    "maxBufferSize": (None, 1000, 8000, 50000, 200000),
}
_ACTIONS = (None, "pause", "resume", "window0", "window1")
_STATE = (
    "paused", "stopped", "outstandingPull", "producerPaused", "unregistered",
    "producerIsStreaming", "bufferSize", "lowWater", "maxBufferSize", "bufferedBytes",
    "peakBufferedBytes", "producerPauses", "bytesReceived", "bytesSent", "bytesDiscarded",
)


class BytesSub(bytes):
    """Not exact bytes: the proxy must hand its consumer exact bytes all the same."""


def _payload(kind: int, n: int, offset: int) -> Tuple[Any, bytes]:
    raw = _BLOCK[offset : offset + n]
    if kind in (0, 1, 2):
        return b"".join([raw]), raw
    if kind == 3:
        return bytearray(raw), raw
    if kind == 4:
        return memoryview(raw), raw
    if kind == 5:
        return array.array("B", raw), raw
    return BytesSub(raw), raw


def decode(data: bytes) -> Tuple[Tuple[str, bool], List[Tuple[str, object]]]:
    """Turn fuzzer input into ((class name, pull proxy?), operations)."""
    r = _Reader(data)
    first = r.byte()
    config = ("ProducerConsumerProxy" if first & 1 else "BasicProducerConsumerProxy", bool(first & 2))
    ops: List[Tuple[str, object]] = []
    while r.more():
        code = r.byte() % 16
        if code <= 3:
            ops.append(("write", (r.byte() % 7, r.byte(), r.u16())))
        elif code == 4:
            ops.append(("write", (r.byte() % 7, r.u16() % 20000, r.u16())))
        elif code == 5:
            ops.append(("bad", r.byte() % 5))
        elif code == 6:
            ops.append(("pause", None))
        elif code in (7, 8):
            ops.append(("resume", None))
        elif code == 9:
            ops.append(("window", _WINDOWS[r.byte() % len(_WINDOWS)]))
        elif code == 10:
            name = sorted(_MARKS)[r.byte() % 3]
            ops.append((name, _MARKS[name][r.byte() % len(_MARKS[name])]))
        elif code == 11:
            ops.append(("push", (r.byte() % 4, r.byte())))
        elif code == 12:
            ops.append(("pull", (r.byte() % 30, r.byte())))
        elif code == 13:
            ops.append(("unregister", None))
        elif code == 14:
            ops.append(("action", _ACTIONS[r.byte() % len(_ACTIONS)]))
        else:
            ops.append(("stop" if r.byte() % 32 == 0 else "finish", None))
    return config, ops


class _World:
    """One run: the proxy, its consumer, producers, and the model of the stream."""

    def __init__(self, ns: Any, name: str, pull: bool) -> None:
        base = getattr(ns, name)
        attrs: dict = {"window": sys.maxsize}
        if pull:
            attrs["iAmStreaming"] = False
        if name == "ProducerConsumerProxy":

            def _writeSomeData(self: Any, data: bytes) -> int:
                n = min(len(data), self.window)
                if n <= 0:
                    return 0
                self.window -= n  # first: the consumer may set a new window while it writes
                return base._writeSomeData(self, data[:n])

            attrs["_writeSomeData"] = _writeSomeData
        self.events: List[tuple] = []
        self.in_write = False
        self.action: Optional[str] = None
        self.accepted = bytearray()
        self.delivered = bytearray()
        self.copies: List[Tuple[bytes, bytes]] = []
        self.discarded = 0
        self.producers: List[Any] = []
        self.proxy = type("Fuzzed", (base,), attrs)(self)

    # -- the consumer ----------------------------------------------------------------

    def write(self, data: bytes) -> None:
        assert type(data) is bytes, f"consumer got {type(data).__name__}, not bytes"
        assert data, "consumer got an empty write"
        assert not self.in_write, "the proxy wrote to its consumer from inside a consumer write"
        self.events.append(("write", len(data)))
        self.delivered += data
        self.copies.append((data, bytes(bytearray(data))))
        action = self.action
        if action is None:
            return
        self.in_write = True
        try:
            if action == "pause":
                self.proxy.pauseProducing()
            elif action == "resume":
                self.proxy.resumeProducing()
            else:
                self.proxy.window = 0 if action == "window0" else 1
        finally:
            self.in_write = False

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.events.append(("register", streaming))

    def unregisterProducer(self) -> None:
        self.events.append(("unregister",))

    def finish(self) -> None:
        self.events.append(("finish",))

    # -- writes into the proxy, with the model ---------------------------------------

    def put(self, obj: Any, raw: bytes) -> Optional[Tuple[str, str]]:
        """proxy.write(obj), accounted; the outcome (exception name and message) or None."""
        proxy = self.proxy
        stopped = proxy.stopped
        mark = len(self.accepted)
        if not stopped:
            # Accepted (unless it raises) before anything it triggers writes.
            self.accepted += raw
        try:
            proxy.write(obj)
        except AssertionError:
            raise
        except Exception as exc:
            if not stopped:
                assert len(self.accepted) == mark + len(raw), "a write raised after others were accepted"
                del self.accepted[mark:]
            return type(exc).__name__, str(exc)
        if stopped:
            self.discarded += len(raw)
        return None

    def check(self, where: str) -> None:
        proxy = self.proxy
        got, want = len(self.delivered), len(self.accepted)
        assert got <= want and self.delivered == self.accepted[:got], (
            where, "the consumer's stream is not a prefix of what was accepted", got, want)
        assert proxy.bytesSent == got, (where, proxy.bytesSent, got)
        assert proxy.bytesReceived == want, (where, proxy.bytesReceived, want)
        assert proxy.bufferedBytes == want - got, (where, proxy.bufferedBytes, want - got)
        assert proxy.bytesDiscarded == self.discarded, (where, proxy.bytesDiscarded, self.discarded)


class _PushProducer:
    """Logs pause/resume/stop; on resume, writes *per_resume* chunks (not from inside a consumer write)."""

    def __init__(self, world: _World, number: int, per_resume: int, size: int) -> None:
        self.world, self.number, self.per_resume, self.size = world, number, per_resume, size
        self.events: List[str] = []
        self.budget = 6

    def pauseProducing(self) -> None:
        self.events.append("pause")

    def resumeProducing(self) -> None:
        self.events.append("resume")
        for _ in range(self.per_resume):
            if self.budget <= 0 or self.world.in_write:
                return
            self.budget -= 1
            raw = _BLOCK[self.budget * 977 : self.budget * 977 + self.size]
            self.world.put(b"".join([raw]), raw)

    def stopProducing(self) -> None:
        self.events.append("stop")

    def __repr__(self) -> str:
        return f"<push producer {self.number}>"


class _PullProducer:
    """Writes one chunk per resumeProducing, *count* in all (none from inside a consumer write)."""

    def __init__(self, world: _World, number: int, count: int, size: int) -> None:
        self.world, self.number, self.count, self.size = world, number, count, size
        self.events: List[str] = []
        self.sent = 0

    def resumeProducing(self) -> None:
        self.events.append("pull")
        if self.sent >= self.count or self.world.in_write or "stop" in self.events:
            return
        raw = _BLOCK[self.sent * 131 : self.sent * 131 + self.size]
        self.sent += 1
        self.world.put(bytearray(raw) if self.sent % 2 else b"".join([raw]), raw)

    def pauseProducing(self) -> None:
        raise AssertionError("pauseProducing called on a pull producer")

    def stopProducing(self) -> None:
        self.events.append("stop")

    def __repr__(self) -> str:
        return f"<pull producer {self.number}>"


def run(data: bytes, ns: Any) -> List[tuple]:
    """Replay *data* on the proxies of implementation namespace *ns*; return the trace.

    Raises AssertionError when the stream or the counters break the model.
    """
    (name, pull), ops = decode(data)
    world = _World(ns, name, pull)
    proxy = world.proxy
    trace: List[tuple] = []
    for step, (op, arg) in enumerate(ops):
        where = f"step {step} {op}({arg!r})"
        outcome: Optional[Tuple[str, str]] = None
        try:
            if op == "write":
                outcome = world.put(*_payload(*arg))  # type: ignore[misc]
            elif op == "bad":
                obj, expected = _bad_payload(arg)  # type: ignore[arg-type]
                outcome = world.put(obj, b"")
                if not proxy.stopped:
                    assert outcome is not None and outcome[0] == expected.__name__, (where, outcome)
            elif op == "pause":
                proxy.pauseProducing()
            elif op == "resume":
                proxy.resumeProducing()
            elif op == "window":
                proxy.window = arg
            elif op in _MARKS:
                setattr(proxy, op, arg)
            elif op in ("push", "pull"):
                number = len(world.producers)
                a, b = arg  # type: ignore[misc]
                producer = (_PushProducer(world, number, a, b) if op == "push"
                            else _PullProducer(world, number, a, b))
                world.producers.append(producer)
                proxy.registerProducer(producer, op == "push")
            elif op == "unregister":
                proxy.unregisterProducer()
            elif op == "action":
                world.action = arg  # type: ignore[assignment]
            elif op == "finish":
                proxy.finish()
            else:
                proxy.stopProducing()
        except AssertionError:
            raise
        except Exception as exc:  # compared between the implementations
            outcome = (type(exc).__name__, str(exc))
        world.check(where)
        state = tuple(getattr(proxy, attr) for attr in _STATE)
        trace.append((op, outcome, state, len(world.events), [p.events[:] for p in world.producers]))
    # Everything accepted reaches the consumer once the window opens (unless stopped).
    world.action = None
    proxy.window = sys.maxsize
    for _ in range(200):
        if proxy.stopped or not proxy.bufferedBytes:
            break
        proxy.resumeProducing()
    world.check("final flush")
    if not proxy.stopped:
        assert proxy.bufferedBytes == 0, ("final flush", proxy.bufferedBytes)
        assert world.delivered == world.accepted, "final flush: not everything accepted was delivered"
    for got, copy in world.copies:
        assert got == copy, "bytes the consumer received changed afterwards"
    trace.append(("end", world.events, len(world.delivered)))
    return trace


def run_both(data: bytes, namespaces: Sequence[Any]) -> int:
    """Run *data* on each implementation in *namespaces*; their traces must be equal.

    Returns the number of operations.
    """
    traces = [run(data, ns) for ns in namespaces]
    first = traces[0]
    for other in traces[1:]:
        for step, (x, y) in enumerate(zip(first, other)):
            assert x == y, f"first difference between implementations at step {step}: {x!r} != {y!r}"
        assert len(first) == len(other)
    return len(first) - 1
