"""Test doubles for the proxy tests: Twisted's test_pcp dummies, on bytes, and a few more.

``DummyTransport``, ``DummyProducer`` and ``DummyConsumer`` are those of
``twisted.test.test_pcp`` with bytes instead of str. The transport is strict:
a write of anything but non-empty ``bytes`` fails the test at once, so every
test that uses it also checks that the proxy only ever sends real bytes.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional


class DummyTransport:
    """A dumb transport to wrap around: it records every write."""

    def __init__(self) -> None:
        self._writes: List[bytes] = []

    def write(self, data: bytes) -> None:
        """Record *data*, which must be non-empty exact bytes."""
        assert type(data) is bytes, f"consumer got {type(data).__name__}, not bytes"
        assert data, "consumer got an empty write"
        self._writes.append(data)

    def getvalue(self) -> bytes:
        """Everything written so far, joined."""
        return b"".join(self._writes)


class DummyProducer:
    """A producer that only records what it was told."""

    resumed = False
    stopped = False
    paused = False

    def __init__(self, consumer: Any, name: str = "dummy") -> None:
        self.consumer = consumer
        self.name = name

    def resumeProducing(self) -> None:
        """Record a resume (which also ends a pause)."""
        self.resumed = True
        self.paused = False

    def pauseProducing(self) -> None:
        """Record a pause."""
        self.paused = True

    def stopProducing(self) -> None:
        """Record a stop."""
        self.stopped = True

    def __repr__(self) -> str:
        return f"<DummyProducer {self.name}>"


class DummyConsumer(DummyTransport):
    """A consumer that records writes, its producer, finish and unregister.

    Unlike Twisted's, ``unregistered`` starts False, so that a test asserting
    it became True can fail.
    """

    producer: Optional[tuple] = None
    finished = False
    unregistered = False

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """Remember (producer, streaming)."""
        self.producer = (producer, streaming)

    def unregisterProducer(self) -> None:
        """Record the unregistration."""
        self.unregistered = True

    def finish(self) -> None:
        """Record the finish."""
        self.finished = True


class EventConsumer:
    """A consumer that logs writes, finish and unregister, in order, in ``events``.

    ``on_write`` (if set) is called after each write is logged, with the
    number of writes so far: the hook for re-entrant calls into the proxy.
    """

    def __init__(self, on_write: Optional[Callable[[int], None]] = None) -> None:
        self.events: List[tuple] = []
        self.producer: Optional[tuple] = None
        self.on_write = on_write

    @property
    def writes(self) -> List[bytes]:
        """The data of every write, in order."""
        return [e[1] for e in self.events if e[0] == "write"]

    def getvalue(self) -> bytes:
        """Everything written so far, joined."""
        return b"".join(self.writes)

    def write(self, data: bytes) -> None:
        """Log *data*, which must be non-empty exact bytes, then call on_write."""
        assert type(data) is bytes, f"consumer got {type(data).__name__}, not bytes"
        assert data, "consumer got an empty write"
        self.events.append(("write", data))
        if self.on_write is not None:
            self.on_write(len(self.writes))

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """Remember (producer, streaming)."""
        self.producer = (producer, streaming)

    def unregisterProducer(self) -> None:
        """Log the unregistration."""
        self.events.append(("unregister",))

    def finish(self) -> None:
        """Log the finish."""
        self.events.append(("finish",))


class EventProducer:
    """A push producer that logs pause/resume/stop in ``events``."""

    def __init__(self) -> None:
        self.events: List[str] = []

    def pauseProducing(self) -> None:
        """Log a pause."""
        self.events.append("pause")

    def resumeProducing(self) -> None:
        """Log a resume."""
        self.events.append("resume")

    def stopProducing(self) -> None:
        """Log a stop."""
        self.events.append("stop")


class ChunkPullProducer:
    """A pull producer writing one numbered chunk per resumeProducing, ``count`` in all.

    Once all are out, a pull writes nothing (or, with ``unregister_at``, the
    producer unregisters itself from the proxy after writing that chunk).
    """

    def __init__(
        self,
        proxy: Any,
        count: int,
        size: int = 0,
        unregister_at: Optional[int] = None,
    ) -> None:
        self.proxy = proxy
        self.count = count
        self.size = size
        self.unregister_at = unregister_at
        self.sent = 0
        self.pulls = 0
        self.stopped = False

    def chunk(self, i: int) -> bytes:
        """Chunk number *i*: its number, padded to ``size`` bytes if set."""
        text = b"%d," % i
        return text.ljust(self.size, b".") if self.size else text

    def expected(self, n: Optional[int] = None) -> bytes:
        """The first *n* chunks (all by default), joined."""
        return b"".join(self.chunk(i) for i in range(self.count if n is None else n))

    def resumeProducing(self) -> None:
        """Write the next chunk, if any remain and we were not stopped."""
        self.pulls += 1
        if self.stopped or self.sent >= self.count:
            return
        data = self.chunk(self.sent)
        self.sent += 1
        self.proxy.write(data)
        if self.unregister_at == self.sent:
            self.proxy.unregisterProducer()

    def pauseProducing(self) -> None:
        """A pull producer is never paused."""
        raise AssertionError("pauseProducing called on a pull producer")

    def stopProducing(self) -> None:
        """Record the stop; later pulls write nothing."""
        self.stopped = True
