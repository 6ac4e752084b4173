"""Behaviour of pcp's two proxies beyond Twisted's own tests (issue 3).

Bytes in and out, input types, errors that lose nothing, registration,
watermarks, the hard cap, pull producers behind a streaming proxy (with
Twisted's real FileSender), finish/unregister ordering, partial writes,
re-entrancy, counters, repr, subclass overrides, interfaces and the large
chunks the compiled core keeps by reference. Every test runs against both
implementations through the ``impl`` fixture.
"""

from __future__ import annotations

import array
import hashlib
import os
import random
import struct
import sys

import pytest

import pcp
from dummies import ChunkPullProducer, DummyConsumer, DummyProducer, EventConsumer, EventProducer

CLASS_NAMES = ["BasicProducerConsumerProxy", "ProducerConsumerProxy"]


@pytest.fixture(params=CLASS_NAMES)
def proxyClass(request, impl):
    """Each proxy class of the implementation under test."""
    return getattr(impl, request.param)


def windowed(base):
    """A subclass of *base* whose consumer takes at most ``window`` bytes until refilled.

    It models a transport with a kernel buffer: ``window`` is what it can
    still take; each write uses some of it; the test refills it.
    """

    class Windowed(base):
        window = sys.maxsize

        def _writeSomeData(self, data):
            n = max(0, min(len(data), self.window))
            self.window -= n  # before the write: the consumer may refill the window
            if n:
                base._writeSomeData(self, data[:n])
            return n

    return Windowed


def as_bytes(data) -> bytes:
    """What the consumer should receive for *data*: its raw bytes."""
    with memoryview(data) as view:
        return view.tobytes()


# -- what the consumer receives ------------------------------------------------


def test_flush_is_one_bytes_write(proxyClass):
    consumer = DummyConsumer()
    proxy = proxyClass(consumer)
    proxy.pauseProducing()
    pieces = [
        b"ab",
        bytearray(b"cd"),
        memoryview(b"ef"),
        array.array("B", b"gh"),
        b"",
        bytearray(),
        b"L" * 5000,
        b"ij",
    ]
    for piece in pieces:
        proxy.write(piece)
    assert consumer._writes == []
    proxy.resumeProducing()
    assert consumer._writes == [b"".join(as_bytes(p) for p in pieces)]
    assert type(consumer._writes[0]) is bytes


def test_resume_with_nothing_buffered_sends_nothing(proxyClass):
    consumer = DummyConsumer()
    proxy = proxyClass(consumer)
    proxy.pauseProducing()
    proxy.write(b"")
    proxy.write(bytearray())
    proxy.resumeProducing()
    proxy.write(b"")
    assert consumer._writes == []
    assert proxy.bytesReceived == 0


class BytesSub(bytes):
    pass


INPUTS = {
    "bytes": lambda: b"hello world",
    "bytearray": lambda: bytearray(b"hello world"),
    "memoryview": lambda: memoryview(b"__hello world__")[2:-2],
    "memoryview-bytearray": lambda: memoryview(bytearray(b"hello world")),
    "array-i": lambda: array.array("i", [1, -2, 3, 70000]),
    "array-d": lambda: array.array("d", [1.5, -2.25]),
    "memoryview-2d": lambda: memoryview(bytes(range(12))).cast("B", (3, 4)),
    "bytes-subclass": lambda: BytesSub(b"hello world"),
    "large-bytearray": lambda: bytearray(os.urandom(9000)),
}


@pytest.mark.parametrize("paused", [False, True], ids=["direct", "buffered"])
@pytest.mark.parametrize("kind", sorted(INPUTS))
def test_bytes_like_inputs_arrive_as_bytes(proxyClass, kind, paused):
    consumer = DummyConsumer()
    proxy = proxyClass(consumer)
    data = INPUTS[kind]()
    if paused:
        proxy.pauseProducing()
    proxy.write(data)
    proxy.resumeProducing()
    assert consumer._writes == [as_bytes(data)]
    assert type(consumer._writes[0]) is bytes
    assert proxy.bytesReceived == proxy.bytesSent == len(as_bytes(data))


@pytest.mark.parametrize("size", [5, 5000, 70000])
def test_buffered_bytearray_is_copied(proxyClass, size):
    consumer = DummyConsumer()
    proxy = proxyClass(consumer)
    proxy.pauseProducing()
    original = os.urandom(size)
    ba = bytearray(original)
    proxy.write(ba)
    ba[:] = b"X" * size
    ba += b"more"
    arr = array.array("B", b"arr")
    view_source = bytearray(b"view")
    proxy.write(arr)
    proxy.write(memoryview(view_source))
    arr[0] = ord("Z")
    view_source[0] = ord("Z")
    proxy.resumeProducing()
    assert consumer._writes == [original + b"arr" + b"view"]


def test_direct_bytearray_arrives_as_a_bytes_copy(proxyClass):
    consumer = DummyConsumer()
    proxy = proxyClass(consumer)
    ba = bytearray(b"abc")
    proxy.write(ba)
    ba[0] = ord("Z")
    assert consumer._writes == [b"abc"]


@pytest.mark.parametrize("bad", ["text", None, 42, 1.5, [1, 2], object()], ids=repr)
@pytest.mark.parametrize("state", ["running", "paused", "stopped"])
def test_non_buffers_raise_typeerror_and_lose_nothing(proxyClass, bad, state):
    consumer = DummyConsumer()
    proxy = proxyClass(consumer)
    if state == "paused":
        proxy.pauseProducing()
    if state == "stopped":
        proxy.stopProducing()
    proxy.write(b"before")
    counters = (proxy.bytesReceived, proxy.bufferedBytes, proxy.bytesDiscarded)
    with pytest.raises(TypeError, match=type(bad).__name__):
        proxy.write(bad)
    assert (proxy.bytesReceived, proxy.bufferedBytes, proxy.bytesDiscarded) == counters
    proxy.write(b"after")
    proxy.resumeProducing()
    if state == "stopped":
        assert consumer._writes == []
        assert proxy.bytesDiscarded == len(b"beforeafter")
    else:
        assert consumer.getvalue() == b"beforeafter"


@pytest.mark.parametrize("paused", [False, True], ids=["direct", "buffered"])
def test_non_contiguous_buffer_raises_buffererror_and_loses_nothing(proxyClass, paused):
    consumer = DummyConsumer()
    proxy = proxyClass(consumer)
    if paused:
        proxy.pauseProducing()
    proxy.write(b"keep")
    with pytest.raises(BufferError):
        proxy.write(memoryview(b"abcdef")[::2])
    proxy.resumeProducing()
    assert consumer.getvalue() == b"keep"
    assert proxy.bytesReceived == 4


# -- registration ------------------------------------------------------------------


def test_register_twice_raises_until_unregistered(proxyClass):
    proxy = proxyClass(DummyConsumer())
    first = DummyProducer(proxy, "first")
    second = DummyProducer(proxy, "second")
    proxy.registerProducer(first, True)
    with pytest.raises(RuntimeError, match="second.*first"):
        proxy.registerProducer(second, True)
    assert proxy.producer is first
    proxy.unregisterProducer()
    assert proxy.producer is None
    proxy.registerProducer(second, True)
    assert proxy.producer is second
    assert proxy.producerIsStreaming is True
    proxy.stopProducing()
    assert second.stopped and not first.stopped


# -- watermarks --------------------------------------------------------------------


def test_producer_paused_once_per_episode(impl):
    proxy = impl.ProducerConsumerProxy(DummyConsumer())
    proxy.bufferSize = 10
    producer = EventProducer()
    proxy.registerProducer(producer, True)
    proxy.pauseProducing()
    proxy.write(b"x" * 9)
    assert producer.events == []
    proxy.write(b"x")
    assert producer.events == ["pause"]
    for _ in range(5):
        proxy.write(b"x" * 7)
    assert producer.events == ["pause"]
    assert proxy.producerPauses == 1
    assert proxy.producerPaused
    proxy.resumeProducing()
    assert producer.events == ["pause", "resume"]
    assert not proxy.producerPaused
    proxy.pauseProducing()
    proxy.write(b"y" * 25)
    proxy.write(b"y")
    assert producer.events == ["pause", "resume", "pause"]
    assert proxy.producerPauses == 2


def test_producer_resumed_only_at_or_below_low_water(impl):
    consumer = DummyConsumer()
    proxy = windowed(impl.ProducerConsumerProxy)(consumer)
    proxy.bufferSize = 100
    proxy.lowWater = 20
    producer = EventProducer()
    proxy.registerProducer(producer, True)
    proxy.pauseProducing()
    proxy.write(b"a" * 150)
    assert producer.events == ["pause"]
    proxy.window = 129
    proxy.resumeProducing()
    assert proxy.bufferedBytes == 21
    assert producer.events == ["pause"]
    assert proxy.producerPaused
    proxy.window = 1
    proxy.resumeProducing()
    assert proxy.bufferedBytes == 20
    assert producer.events == ["pause", "resume"]
    assert not proxy.producerPaused
    proxy.window = sys.maxsize
    proxy.resumeProducing()
    assert consumer.getvalue() == b"a" * 150
    assert producer.events == ["pause", "resume"]


def test_producer_resumed_when_a_write_drains_to_low_water(impl):
    # The resume can come from write's path too: leftovers drained by a later write.
    consumer = DummyConsumer()
    proxy = windowed(impl.ProducerConsumerProxy)(consumer)
    proxy.bufferSize = 100
    producer = EventProducer()
    proxy.registerProducer(producer, True)
    proxy.window = 0
    proxy.write(b"b" * 120)
    assert producer.events == ["pause"]
    proxy.window = 200
    proxy.write(b"c")
    assert consumer.getvalue() == b"b" * 120 + b"c"
    assert producer.events == ["pause", "resume"]


def test_default_marks(impl):
    assert impl.ProducerConsumerProxy(None).bufferSize == 65536
    assert impl.ProducerConsumerProxy(None).lowWater == 16384
    assert impl.ProducerConsumerProxy(None).maxBufferSize is None
    basic = impl.BasicProducerConsumerProxy(None)
    assert basic.bufferSize == sys.maxsize
    assert basic.maxBufferSize is None


def test_low_water_default_follows_buffer_size(impl):
    proxy = impl.ProducerConsumerProxy(None)
    proxy.bufferSize = 100
    assert proxy.lowWater == 25
    proxy.bufferSize = 41
    assert proxy.lowWater == 10
    proxy.lowWater = 5
    proxy.bufferSize = 80
    assert proxy.lowWater == 5
    proxy.lowWater = None
    assert proxy.lowWater == 20
    proxy.bufferSize = 0
    assert proxy.lowWater == 0


def test_basic_proxy_has_no_high_water_mark(impl):
    proxy = impl.BasicProducerConsumerProxy(DummyConsumer())
    producer = EventProducer()
    proxy.registerProducer(producer, True)
    proxy.pauseProducing()
    assert producer.events == ["pause"]  # relayed, not the mark
    proxy.write(b"z" * (1 << 20))
    assert proxy.producerPauses == 0
    assert not proxy.producerPaused
    proxy.resumeProducing()
    assert producer.events == ["pause", "resume"]


def test_basic_proxy_with_a_mark_pauses_every_episode(impl):
    class PullBasic(impl.BasicProducerConsumerProxy):
        iAmStreaming = False  # writes wait for the consumer's pull: the buffer fills

    consumer = EventConsumer()
    proxy = PullBasic(consumer)
    proxy.bufferSize = 10
    producer = EventProducer()
    proxy.registerProducer(producer, True)
    proxy.write(b"x" * 20)
    assert producer.events == ["pause"]
    proxy.resumeProducing()
    assert producer.events == ["pause", "resume"]
    assert consumer.writes == [b"x" * 20]
    assert not proxy.producerPaused
    proxy.write(b"y" * 20)
    assert producer.events == ["pause", "resume", "pause"]
    assert proxy.producerPauses == 2


def test_setting_marks_rechecks_pause_and_resume(impl):
    proxy = impl.ProducerConsumerProxy(DummyConsumer())
    producer = EventProducer()
    proxy.registerProducer(producer, True)
    proxy.pauseProducing()
    proxy.write(b"m" * 50)
    assert producer.events == []
    proxy.bufferSize = 50
    assert producer.events == ["pause"]
    assert proxy.producerPauses == 1
    proxy.bufferSize = 50
    assert producer.events == ["pause"]
    proxy.lowWater = 49
    assert producer.events == ["pause"]
    proxy.lowWater = 50
    assert producer.events == ["pause", "resume"]
    assert not proxy.producerPaused
    proxy.lowWater = None
    proxy.bufferSize = 40
    assert producer.events == ["pause", "resume", "pause"]
    assert proxy.producerPauses == 2
    proxy.bufferSize = 1000  # default low water 250 >= 50 buffered
    assert producer.events == ["pause", "resume", "pause", "resume"]
    assert proxy.bufferedBytes == 50


def test_registering_a_producer_rechecks_the_high_mark(impl):
    proxy = impl.ProducerConsumerProxy(DummyConsumer())
    proxy.bufferSize = 10
    proxy.pauseProducing()
    proxy.write(b"q" * 20)
    producer = EventProducer()
    proxy.registerProducer(producer, True)
    assert producer.events == ["pause"]
    assert proxy.producerPaused


@pytest.mark.parametrize(
    "setup, name, value, error",
    [
        ({}, "bufferSize", -1, ValueError),
        ({}, "lowWater", -1, ValueError),
        ({}, "maxBufferSize", -1, ValueError),
        ({"bufferSize": 100}, "lowWater", 101, ValueError),
        ({"bufferSize": 100, "lowWater": 50}, "bufferSize", 49, ValueError),
        ({"bufferSize": 100}, "maxBufferSize", 99, ValueError),
        ({"bufferSize": 100, "maxBufferSize": 200}, "bufferSize", 201, ValueError),
        ({}, "bufferSize", "100", TypeError),
        ({}, "bufferSize", 1.5, TypeError),
        ({}, "lowWater", "1", TypeError),
        ({}, "maxBufferSize", 2.5, TypeError),
    ],
)
def test_invalid_marks_raise_and_change_nothing(impl, setup, name, value, error):
    proxy = impl.ProducerConsumerProxy(None)
    for key, val in setup.items():
        setattr(proxy, key, val)
    before = (proxy.bufferSize, proxy.lowWater, proxy.maxBufferSize)
    with pytest.raises(error):
        setattr(proxy, name, value)
    assert (proxy.bufferSize, proxy.lowWater, proxy.maxBufferSize) == before


def test_marks_at_their_limits_are_accepted(impl):
    proxy = impl.ProducerConsumerProxy(None)
    proxy.bufferSize = 100
    proxy.lowWater = 100
    proxy.maxBufferSize = 100
    assert (proxy.bufferSize, proxy.lowWater, proxy.maxBufferSize) == (100, 100, 100)
    proxy.lowWater = 0
    assert proxy.lowWater == 0
    proxy.maxBufferSize = None
    assert proxy.maxBufferSize is None


# -- maxBufferSize ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "make", [bytes, bytearray, lambda b: memoryview(bytes(b))], ids=["bytes", "bytearray", "memoryview"]
)
@pytest.mark.parametrize("unit", [10, 5000], ids=["small", "large"])
def test_max_buffer_size_refuses_the_crossing_write(proxyClass, make, unit):
    consumer = DummyConsumer()
    proxy = proxyClass(consumer)
    if proxyClass.__name__ == "ProducerConsumerProxy":
        proxy.bufferSize = 10 * unit
    proxy.maxBufferSize = 15 * unit
    proxy.pauseProducing()
    first, third = os.urandom(10 * unit), os.urandom(5 * unit)
    proxy.write(make(first))
    with pytest.raises(pcp.BufferFull):
        proxy.write(make(os.urandom(6 * unit)))
    assert proxy.bufferedBytes == proxy.bytesReceived == 10 * unit
    proxy.write(make(third))
    assert proxy.bufferedBytes == 15 * unit
    with pytest.raises(pcp.BufferFull, match="maxBufferSize"):
        proxy.write(make(b"!"))
    assert proxy.bufferedBytes == proxy.bytesReceived == 15 * unit
    proxy.resumeProducing()
    assert consumer._writes == [first + third]
    proxy.maxBufferSize = None
    proxy.pauseProducing()
    proxy.write(make(b"?" * (20 * unit)))
    assert proxy.bufferedBytes == 20 * unit


def test_buffer_full_is_an_exception_of_pcp():
    assert issubclass(pcp.BufferFull, Exception)
    assert pcp.BufferFull.__module__.startswith("pcp")


# -- a pull producer behind a streaming proxy ------------------------------------------


def test_pull_producer_is_pulled_until_it_writes_nothing(proxyClass):
    consumer = EventConsumer()
    proxy = proxyClass(consumer)
    producer = ChunkPullProducer(proxy, 50)
    proxy.registerProducer(producer, False)
    assert consumer.getvalue() == producer.expected()
    assert producer.pulls == 51
    assert proxy.bufferedBytes == 0
    # Idle now: nothing pulls until the proxy is resumed.
    proxy.resumeProducing()
    assert producer.pulls == 52


def test_pulling_stops_while_paused_and_resumes(proxyClass):
    proxy = None

    def pause_at_10(n):
        if n == 10:
            proxy.pauseProducing()

    consumer = EventConsumer(on_write=pause_at_10)
    proxy = proxyClass(consumer)
    producer = ChunkPullProducer(proxy, 30)
    proxy.registerProducer(producer, False)
    assert producer.pulls == 10
    assert consumer.getvalue() == producer.expected(10)
    proxy.resumeProducing()
    assert consumer.getvalue() == producer.expected()
    assert producer.pulls == 31


def test_pulling_stops_at_the_high_mark(impl):
    consumer = EventConsumer()
    proxy = windowed(impl.ProducerConsumerProxy)(consumer)
    proxy.bufferSize = 50
    proxy.window = 0
    producer = ChunkPullProducer(proxy, 20, size=10)
    proxy.registerProducer(producer, False)
    assert producer.pulls == 5
    assert proxy.bufferedBytes == 50
    assert consumer.writes == []
    proxy.window = sys.maxsize
    proxy.resumeProducing()
    assert consumer.getvalue() == producer.expected()
    assert producer.pulls == 21


def test_pulling_stops_when_a_pull_writes_nothing(proxyClass):
    consumer = EventConsumer()
    proxy = proxyClass(consumer)
    producer = ChunkPullProducer(proxy, 3)
    proxy.registerProducer(producer, False)
    assert producer.pulls == 4
    producer.count = 5
    proxy.resumeProducing()
    assert producer.pulls == 7
    assert consumer.getvalue() == producer.expected()


def test_pulling_stops_after_stop(proxyClass):
    proxy = None

    def stop_at_5(n):
        if n == 5:
            proxy.stopProducing()

    consumer = EventConsumer(on_write=stop_at_5)
    proxy = proxyClass(consumer)
    producer = ChunkPullProducer(proxy, 20)
    proxy.registerProducer(producer, False)
    assert producer.stopped
    assert producer.pulls == 5
    assert consumer.getvalue() == producer.expected(5)
    proxy.resumeProducing()
    assert producer.pulls == 5
    assert consumer.getvalue() == producer.expected(5)


def test_pulling_stops_after_unregister(proxyClass):
    consumer = EventConsumer()
    proxy = proxyClass(consumer)
    producer = ChunkPullProducer(proxy, 20, unregister_at=5)
    proxy.registerProducer(producer, False)
    assert producer.pulls == 5
    assert proxy.producer is None
    assert consumer.getvalue() == producer.expected(5)
    assert consumer.events[-1] == ("unregister",)
    proxy.resumeProducing()
    assert producer.pulls == 5


def test_pull_loop_is_iterative(proxyClass):
    consumer = EventConsumer()
    proxy = proxyClass(consumer)
    producer = ChunkPullProducer(proxy, 100_000)
    proxy.registerProducer(producer, False)
    assert producer.sent == 100_000
    assert proxy.bytesSent == len(producer.expected())
    assert consumer.getvalue() == producer.expected()


def test_pull_proxy_pulls_once_per_resume(impl):
    class PullProxy(impl.ProducerConsumerProxy):
        iAmStreaming = False

    consumer = EventConsumer()
    proxy = PullProxy(consumer)
    producer = ChunkPullProducer(proxy, 10)
    proxy.registerProducer(producer, False)
    # Pulled once at registration; the chunk waits for the consumer's pull.
    assert producer.pulls == 1
    assert consumer.writes == []
    assert proxy.bufferedBytes == 2
    for i in range(1, 4):
        proxy.resumeProducing()
        assert producer.pulls == i + 1
        assert consumer.writes == [producer.chunk(j) for j in range(i)]


class SinkConsumer:
    """An in-memory consumer that hashes what it gets and pauses its proxy every ``every`` writes."""

    def __init__(self, every: int) -> None:
        self.digest = hashlib.sha256()
        self.received = 0
        self.writes = 0
        self.every = every
        self.proxy = None
        self.unregistered = 0

    def write(self, data: bytes) -> None:
        """Hash *data*; now and then, pause the proxy."""
        assert type(data) is bytes and data
        self.digest.update(data)
        self.received += len(data)
        self.writes += 1
        if self.writes % self.every == 0:
            self.proxy.pauseProducing()

    def registerProducer(self, producer, streaming) -> None:
        """Remember the proxy that registered."""
        self.proxy = producer

    def unregisterProducer(self) -> None:
        """Count the unregistration."""
        self.unregistered += 1


@pytest.mark.parametrize(
    "name, window",
    [("BasicProducerConsumerProxy", None), ("ProducerConsumerProxy", None), ("ProducerConsumerProxy", 50_000)],
    ids=["basic", "buffered", "buffered-partial-writes"],
)
def test_filesender_streams_a_file_through_a_streaming_proxy(impl, tmp_path, name, window):
    basic = pytest.importorskip("twisted.protocols.basic")
    data = os.urandom(8 << 20)
    path = tmp_path / "blob"
    path.write_bytes(data)
    sink = SinkConsumer(every=7)
    proxyClass = getattr(impl, name) if window is None else windowed(getattr(impl, name))
    proxy = proxyClass(sink)
    done = []
    with open(path, "rb") as f:
        if window is not None:
            proxy.window = window
        d = basic.FileSender().beginFileTransfer(f, proxy)
        d.addCallback(done.append)
        rounds = 0
        while not done or proxy.bufferedBytes:
            rounds += 1
            assert rounds < 10_000, "the transfer stalled"
            if window is not None:
                proxy.window = window
            proxy.resumeProducing()
    assert done == [data[-1:]]
    assert sink.received == len(data)
    assert sink.digest.hexdigest() == hashlib.sha256(data).hexdigest()
    assert sink.unregistered == 1
    assert proxy.bytesReceived == proxy.bytesSent == len(data)
    assert proxy.producer is None
    if window is not None:
        assert proxy.peakBufferedBytes >= proxy.bufferSize


# -- finish and unregister -------------------------------------------------------------


def test_finish_when_drained_finishes_then_unregisters(proxyClass):
    consumer = EventConsumer()
    proxy = proxyClass(consumer)
    proxy.write(b"a")
    proxy.finish()
    assert consumer.events == [("write", b"a"), ("finish",), ("unregister",)]


def test_finish_waits_for_the_buffer_to_drain(proxyClass):
    consumer = EventConsumer()
    proxy = proxyClass(consumer)
    producer = EventProducer()
    proxy.registerProducer(producer, True)
    proxy.pauseProducing()
    proxy.write(b"late")
    proxy.finish()
    assert consumer.events == []
    assert proxy.producer is None
    proxy.resumeProducing()
    assert consumer.events == [("write", b"late"), ("finish",), ("unregister",)]
    proxy.pauseProducing()
    proxy.resumeProducing()
    assert consumer.events == [("write", b"late"), ("finish",), ("unregister",)]


def test_finish_waits_through_partial_writes(impl):
    consumer = EventConsumer()
    proxy = windowed(impl.ProducerConsumerProxy)(consumer)
    proxy.window = 3
    proxy.write(b"abcdefgh")
    proxy.finish()
    assert consumer.events == [("write", b"abc")]
    proxy.window = 3
    proxy.resumeProducing()
    assert consumer.events == [("write", b"abc"), ("write", b"def")]
    proxy.window = 3
    proxy.resumeProducing()
    assert consumer.events == [("write", b"abc"), ("write", b"def"), ("write", b"gh"), ("finish",), ("unregister",)]


class NoFinishConsumer:
    """A consumer with write and producer registration but no finish()."""

    def __init__(self) -> None:
        self.events = []

    def write(self, data):
        """Log a write."""
        self.events.append(("write", data))

    def registerProducer(self, producer, streaming):
        """Accept the registration."""

    def unregisterProducer(self):
        """Log the unregistration."""
        self.events.append(("unregister",))


@pytest.mark.parametrize("paused", [False, True])
def test_finish_on_a_consumer_without_finish(proxyClass, paused):
    consumer = NoFinishConsumer()
    proxy = proxyClass(consumer)
    if paused:
        proxy.pauseProducing()
    proxy.write(b"x")
    proxy.finish()
    proxy.resumeProducing()
    assert consumer.events == [("write", b"x"), ("unregister",)]


def test_unregister_tells_the_consumer_once_drained(proxyClass):
    consumer = EventConsumer()
    proxy = proxyClass(consumer)
    producer = EventProducer()
    proxy.registerProducer(producer, True)
    proxy.pauseProducing()
    proxy.write(b"one")
    proxy.unregisterProducer()
    assert proxy.producer is None
    assert consumer.events == []
    proxy.write(b"two")
    proxy.resumeProducing()
    assert consumer.events == [("write", b"onetwo"), ("unregister",)]


def test_unregister_twice_tells_the_consumer_once(proxyClass):
    consumer = EventConsumer()
    proxy = proxyClass(consumer)
    proxy.registerProducer(EventProducer(), True)
    proxy.pauseProducing()
    proxy.write(b"x")
    proxy.unregisterProducer()
    proxy.unregisterProducer()
    proxy.resumeProducing()
    assert consumer.events == [("write", b"x"), ("unregister",)]


def test_unregister_with_nothing_buffered_tells_the_consumer_at_once(proxyClass):
    consumer = EventConsumer()
    proxy = proxyClass(consumer)
    proxy.registerProducer(EventProducer(), True)
    proxy.unregisterProducer()
    assert consumer.events == [("unregister",)]
    assert proxy.unregistered


# -- partial writes (_writeSomeData) ---------------------------------------------------


def test_partial_write_keeps_the_rest_in_order(impl):
    consumer = EventConsumer()
    proxy = windowed(impl.ProducerConsumerProxy)(consumer)
    proxy.window = 4
    proxy.write(b"0123456789")
    assert consumer.writes == [b"0123"]
    assert proxy.bufferedBytes == 6
    proxy.write(b"ABC")
    assert proxy.bufferedBytes == 9
    assert proxy.bytesReceived == 13 and proxy.bytesSent == 4
    proxy.window = 5
    proxy.resumeProducing()
    assert consumer.writes == [b"0123", b"45678"]
    proxy.window = sys.maxsize
    proxy.resumeProducing()
    assert consumer.writes == [b"0123", b"45678", b"9ABC"]
    assert proxy.bufferedBytes == 0
    assert proxy.bytesSent == 13


def test_partial_writes_random_schedule(impl):
    rng = random.Random(7)
    consumer = EventConsumer()
    proxy = windowed(impl.ProducerConsumerProxy)(consumer)
    proxy.window = 0
    expected = bytearray()
    for _ in range(400):
        op = rng.random()
        if op < 0.6:
            data = rng.randbytes(rng.choice([0, 1, 3, 50, 700, 4096, 6000]))
            proxy.write(data)
            expected += data
        elif op < 0.8:
            proxy.window = rng.choice([0, 1, 7, 100, 5000])
            proxy.resumeProducing()
        elif op < 0.9:
            proxy.pauseProducing()
        else:
            proxy.window = rng.choice([0, 2, 64])
        assert proxy.bufferedBytes == proxy.bytesReceived - proxy.bytesSent
        assert consumer.getvalue() == bytes(expected[: proxy.bytesSent])
    proxy.window = sys.maxsize
    proxy.resumeProducing()
    assert consumer.getvalue() == bytes(expected)


def test_write_some_data_returning_zero_keeps_everything(impl):
    consumer = EventConsumer()
    proxy = windowed(impl.ProducerConsumerProxy)(consumer)
    proxy.window = 0
    proxy.write(b"abc")
    proxy.resumeProducing()
    proxy.write(b"def")
    assert consumer.writes == []
    assert proxy.bufferedBytes == 6
    proxy.window = 100
    proxy.resumeProducing()
    assert consumer.writes == [b"abcdef"]


@pytest.mark.parametrize("result", [-1, 99, "3", None], ids=repr)
def test_write_some_data_bad_result_raises(impl, result):
    class Bad(impl.ProducerConsumerProxy):
        def _writeSomeData(self, data):
            return result

    proxy = Bad(EventConsumer())
    proxy.pauseProducing()
    proxy.write(b"abc")
    with pytest.raises((TypeError, ValueError)):
        proxy.resumeProducing()
    assert proxy.bufferedBytes == 3


# -- a consumer that raises -------------------------------------------------------------


class FlakyConsumer(EventConsumer):
    """An EventConsumer whose write raises RuntimeError while ``broken``."""

    broken = False

    def write(self, data):
        """Raise while broken, else log."""
        if self.broken:
            raise RuntimeError("consumer broke")
        super().write(data)


def test_consumer_raising_during_flush_loses_nothing(proxyClass):
    consumer = FlakyConsumer()
    proxy = proxyClass(consumer)
    proxy.pauseProducing()
    proxy.write(b"abc")
    proxy.write(bytearray(b"def"))
    consumer.broken = True
    with pytest.raises(RuntimeError, match="consumer broke"):
        proxy.resumeProducing()
    assert proxy.bufferedBytes == 6
    assert proxy.bytesSent == 0
    with pytest.raises(RuntimeError):
        proxy.resumeProducing()
    consumer.broken = False
    proxy.resumeProducing()
    assert consumer.writes == [b"abcdef"]
    assert proxy.bufferedBytes == 0
    assert proxy.bytesSent == 6


def test_consumer_raising_during_flush_then_a_write_sends_leftovers_first(proxyClass):
    consumer = FlakyConsumer()
    proxy = proxyClass(consumer)
    proxy.pauseProducing()
    proxy.write(b"old")
    consumer.broken = True
    with pytest.raises(RuntimeError):
        proxy.resumeProducing()
    # A write while the consumer is still broken raises and is not accepted.
    with pytest.raises(RuntimeError):
        proxy.write(b"refused")
    assert proxy.bytesReceived == 3
    assert proxy.bufferedBytes == 3
    consumer.broken = False
    proxy.write(b"new")
    assert consumer.getvalue() == b"oldnew"
    assert proxy.bufferedBytes == 0
    assert proxy.bytesReceived == proxy.bytesSent == 6


def test_consumer_raising_on_a_direct_write_does_not_accept_it(proxyClass):
    consumer = FlakyConsumer()
    proxy = proxyClass(consumer)
    consumer.broken = True
    with pytest.raises(RuntimeError):
        proxy.write(b"lost on purpose")
    assert proxy.bytesReceived == 0
    assert proxy.bufferedBytes == 0
    consumer.broken = False
    proxy.write(b"ok")
    assert consumer.writes == [b"ok"]


def test_partial_consumer_raising_keeps_order(impl):
    base = impl.ProducerConsumerProxy

    class Flaky(base):
        plan = []

        def _writeSomeData(self, data):
            step = self.plan.pop(0) if self.plan else len(data)
            if step == "raise":
                raise OSError("send failed")
            step = min(step, len(data))
            base._writeSomeData(self, data[:step])
            return step

    consumer = EventConsumer()
    proxy = Flaky(consumer)
    proxy.pauseProducing()
    proxy.write(b"0123456789")
    proxy.plan = [3, "raise"]
    proxy.resumeProducing()
    assert consumer.writes == [b"012"]
    with pytest.raises(OSError):
        proxy.write(b"AB")  # the leftovers go first, and that send fails
    assert proxy.bufferedBytes == 7
    assert proxy.bytesReceived == 10
    proxy.write(b"CD")
    assert consumer.getvalue() == b"0123456789CD"


# -- re-entrancy -----------------------------------------------------------------------


def test_consumer_writes_back_during_flush(proxyClass):
    proxy = None

    def write_back(n):
        if n == 1:
            proxy.write(b"X")
            proxy.write(bytearray(b"Y"))

    consumer = EventConsumer(on_write=write_back)
    proxy = proxyClass(consumer)
    proxy.pauseProducing()
    proxy.write(b"ab")
    proxy.resumeProducing()
    proxy.write(b"Z")
    assert consumer.getvalue() == b"abXYZ"
    assert proxy.bytesReceived == proxy.bytesSent == 5


def test_consumer_writes_back_during_direct_write(proxyClass):
    proxy = None

    def write_back(n):
        if n == 1:
            proxy.write(b"X")

    consumer = EventConsumer(on_write=write_back)
    proxy = proxyClass(consumer)
    proxy.write(b"ab")
    proxy.write(b"c")
    assert consumer.getvalue() == b"abXc"


def test_consumer_pauses_during_flush(proxyClass):
    proxy = None

    def pause_and_write(n):
        if n == 1:
            proxy.pauseProducing()
            proxy.write(b"X")

    consumer = EventConsumer(on_write=pause_and_write)
    proxy = proxyClass(consumer)
    proxy.pauseProducing()
    proxy.write(b"ab")
    proxy.resumeProducing()
    assert consumer.writes == [b"ab"]
    assert proxy.paused
    assert proxy.bufferedBytes == 1
    proxy.resumeProducing()
    assert consumer.writes == [b"ab", b"X"]


def test_consumer_resumes_during_flush(proxyClass):
    proxy = None

    def resume_and_write(n):
        if n == 1:
            proxy.write(b"X")
            proxy.resumeProducing()
            proxy.write(b"Y")

    consumer = EventConsumer(on_write=resume_and_write)
    proxy = proxyClass(consumer)
    proxy.pauseProducing()
    proxy.write(b"ab")
    proxy.resumeProducing()
    assert consumer.getvalue() == b"abXY"
    assert proxy.bufferedBytes == 0


def test_consumer_stops_during_flush(proxyClass):
    proxy = None

    def stop(n):
        if n == 1:
            proxy.write(b"X")
            proxy.stopProducing()

    consumer = EventConsumer(on_write=stop)
    proxy = proxyClass(consumer)
    producer = EventProducer()
    proxy.registerProducer(producer, True)
    proxy.pauseProducing()
    proxy.write(b"ab")
    proxy.resumeProducing()
    assert consumer.writes == [b"ab"]
    assert "stop" in producer.events
    assert proxy.stopped and proxy.consumer is None
    proxy.write(b"gone")
    proxy.resumeProducing()
    assert consumer.writes == [b"ab"]
    assert proxy.bytesDiscarded == 4
    assert proxy.bufferedBytes == 1  # the X written before the stop stays counted


def test_consumer_writes_back_during_partial_write(impl):
    proxy = None

    def write_back(n):
        if n == 1:
            proxy.write(b"X")

    consumer = EventConsumer(on_write=write_back)
    proxy = windowed(impl.ProducerConsumerProxy)(consumer)
    proxy.window = 2
    proxy.write(b"abcd")
    proxy.window = sys.maxsize
    proxy.resumeProducing()
    assert consumer.getvalue() == b"abcdX"


class SyncPushProducer:
    """A push producer that writes synchronously from resumeProducing until paused.

    Re-entrant resumes (from inside its own writes) only clear ``paused``;
    the outer loop goes on.
    """

    def __init__(self, proxy, chunks):
        self.proxy = proxy
        self.chunks = list(chunks)
        self.paused = False
        self.producing = False
        self.pauses = 0

    def pauseProducing(self):
        """Stop the write loop."""
        self.paused = True
        self.pauses += 1

    def resumeProducing(self):
        """Write chunks until paused or out of chunks."""
        self.paused = False
        if self.producing:
            return
        self.producing = True
        try:
            while self.chunks and not self.paused:
                self.proxy.write(self.chunks.pop(0))
        finally:
            self.producing = False

    def stopProducing(self):
        """Drop what is left."""
        self.chunks = []


def test_synchronous_push_producer_under_watermarks(impl):
    rng = random.Random(3)
    chunks = [rng.randbytes(rng.randrange(1, 300)) for _ in range(500)]
    consumer = EventConsumer()
    proxy = windowed(impl.ProducerConsumerProxy)(consumer)
    proxy.bufferSize = 1000
    proxy.lowWater = 200
    proxy.window = 0
    producer = SyncPushProducer(proxy, chunks)
    proxy.registerProducer(producer, True)
    producer.resumeProducing()
    rounds = 0
    while producer.chunks or proxy.bufferedBytes:
        rounds += 1
        assert rounds < 10_000
        assert proxy.bufferedBytes <= 1000 + 300
        proxy.window = rng.randrange(0, 2000)
        proxy.resumeProducing()
    assert consumer.getvalue() == b"".join(chunks)
    assert producer.pauses == proxy.producerPauses >= 2


@pytest.mark.parametrize("streaming", [True, False], ids=["push-producer", "pull-proxy"])
def test_no_producer_calls_after_stop(proxyClass, streaming):
    if streaming:
        proxy = proxyClass(EventConsumer())
        producer = EventProducer()
        proxy.registerProducer(producer, True)
        proxy.stopProducing()
        proxy.resumeProducing()
        assert producer.events == ["stop"]
    else:

        class Pull(proxyClass):
            iAmStreaming = False

        proxy = Pull(EventConsumer())
        producer = ChunkPullProducer(proxy, 5)
        proxy.registerProducer(producer, False)
        proxy.stopProducing()
        proxy.resumeProducing()
        assert producer.pulls == 1


def test_proxy_without_consumer_buffers_until_one_is_set(proxyClass):
    proxy = proxyClass(None)
    proxy.write(b"early")
    assert proxy.bufferedBytes == 5
    consumer = EventConsumer()
    proxy.consumer = consumer
    proxy.resumeProducing()
    proxy.write(b"late")
    assert consumer.writes == [b"early", b"late"]


def test_consumer_write_is_looked_up_when_the_consumer_is_set(proxyClass):
    consumer = EventConsumer()
    proxy = proxyClass(consumer)
    proxy.write(b"1")
    replaced = []
    consumer.write = replaced.append
    proxy.consumer = consumer
    proxy.write(b"2")
    assert consumer.writes == [b"1"]
    assert replaced == [b"2"]


PROTOCOL_FIELDS = ["consumer", "producer", "producerIsStreaming", "iAmStreaming", "stopped",
                   "paused", "outstandingPull", "producerPaused", "unregistered"]


@pytest.mark.parametrize("name", PROTOCOL_FIELDS)
def test_protocol_fields_cannot_be_deleted(impl, proxyClass, name):
    # The proxy acts on these fields: deleting one would break it, in both implementations.
    consumer = DummyConsumer()
    proxy = proxyClass(consumer)
    before = getattr(proxy, name)
    with pytest.raises(AttributeError, match=f"cannot delete attribute '{name}'"):
        delattr(proxy, name)
    assert getattr(proxy, name) == before
    proxy.write(b"still works")
    assert consumer.getvalue() == b"still works"


def test_other_attributes_set_and_delete_as_usual(proxyClass):
    proxy = proxyClass(None)
    proxy.note = "mine"
    assert proxy.note == "mine"
    del proxy.note
    assert not hasattr(proxy, "note")


def test_protocol_fields_set_directly_reach_the_core(impl):
    # The compiled core keeps C copies of these for its write path: an
    # assignment from outside the protocol layer must reach them too.
    consumer = DummyConsumer()
    proxy = impl.ProducerConsumerProxy(consumer)
    producer = EventProducer()
    proxy.producer, proxy.producerIsStreaming = producer, True
    proxy.bufferSize = 4
    proxy.pauseProducing()
    proxy.write(b"12345")
    assert producer.events == ["pause"]
    proxy.resumeProducing()
    assert consumer.getvalue() == b"12345"
    proxy.iAmStreaming = False
    proxy.outstandingPull = False
    proxy.write(b"held")  # a pull proxy holds data nobody asked for
    assert consumer.getvalue() == b"12345"
    proxy.stopped = True
    proxy.write(b"gone")
    assert proxy.bytesDiscarded == 4
    assert proxy.stopped is True


@pytest.mark.parametrize("name", ["BasicCore", "BufferedCore"])
def test_the_core_alone_is_not_a_proxy(impl, name):
    core = getattr(impl.core, name)
    with pytest.raises(TypeError, match=f"{name} is a base class"):
        core(None)


# -- counters ----------------------------------------------------------------------------


def test_counters(proxyClass):
    consumer = DummyConsumer()
    proxy = proxyClass(consumer)
    assert (proxy.bufferedBytes, proxy.peakBufferedBytes, proxy.bytesReceived, proxy.bytesSent) == (0, 0, 0, 0)
    assert (proxy.bytesDiscarded, proxy.producerPauses) == (0, 0)
    proxy.pauseProducing()
    proxy.write(b"x" * 10)
    proxy.write(bytearray(5))
    assert (proxy.bufferedBytes, proxy.peakBufferedBytes, proxy.bytesReceived, proxy.bytesSent) == (15, 15, 15, 0)
    proxy.resumeProducing()
    assert (proxy.bufferedBytes, proxy.peakBufferedBytes, proxy.bytesReceived, proxy.bytesSent) == (0, 15, 15, 15)
    proxy.write(b"abc")
    assert (proxy.bufferedBytes, proxy.peakBufferedBytes, proxy.bytesReceived, proxy.bytesSent) == (0, 15, 18, 18)
    proxy.pauseProducing()
    proxy.write(b"y" * 4)
    proxy.stopProducing()
    proxy.write(b"z" * 7)
    proxy.write(memoryview(b"w" * 2))
    assert proxy.bytesDiscarded == 9
    assert proxy.bytesReceived == 22
    assert proxy.bufferedBytes == 4
    assert proxy.bytesSent == 18


@pytest.mark.parametrize(
    "name", ["bufferedBytes", "peakBufferedBytes", "producerPauses", "bytesReceived", "bytesSent", "bytesDiscarded"]
)
def test_counters_are_read_only(proxyClass, name):
    proxy = proxyClass(None)
    with pytest.raises(AttributeError):
        setattr(proxy, name, 5)
    assert getattr(proxy, name) == 0


# -- repr ----------------------------------------------------------------------------------


def test_repr(proxyClass):
    consumer = DummyConsumer()
    proxy = proxyClass(consumer)
    text = repr(proxy)
    assert proxyClass.__name__ in text
    assert f"{id(proxy):x}" in text
    assert repr(consumer) in text

    class Mine(proxyClass):
        pass

    assert "Mine" in repr(Mine(None))
    assert "None" in repr(Mine(None))


# -- subclass overrides ------------------------------------------------------------------


def test_subclass_buffer_size_override(impl):
    class Small(impl.ProducerConsumerProxy):
        bufferSize = 10

    proxy = Small(DummyConsumer())
    assert proxy.bufferSize == 10
    assert proxy.lowWater == 2
    producer = EventProducer()
    proxy.registerProducer(producer, True)
    proxy.pauseProducing()
    proxy.write(b"x" * 10)
    assert producer.events == ["pause"]
    assert impl.ProducerConsumerProxy(None).bufferSize == 65536


def test_subclass_low_water_and_chained_overrides(impl):
    class A(impl.ProducerConsumerProxy):
        bufferSize = 10
        lowWater = 2

    class B(A):
        lowWater = 3

    class C(B):
        maxBufferSize = 20

    assert (A(None).bufferSize, A(None).lowWater) == (10, 2)
    assert (B(None).bufferSize, B(None).lowWater) == (10, 3)
    assert (C(None).bufferSize, C(None).lowWater, C(None).maxBufferSize) == (10, 3, 20)
    proxy = C(DummyConsumer())
    proxy.pauseProducing()
    with pytest.raises(pcp.BufferFull):
        proxy.write(b"x" * 21)


def test_subclass_low_water_only(impl):
    class L(impl.ProducerConsumerProxy):
        lowWater = 2

    proxy = L(None)
    assert (proxy.bufferSize, proxy.lowWater) == (65536, 2)


@pytest.mark.parametrize("name", CLASS_NAMES)
def test_subclass_pull_override(impl, name):
    class Pull(getattr(impl, name)):
        iAmStreaming = False

    consumer = DummyConsumer()
    proxy = Pull(consumer)
    assert proxy.iAmStreaming is False
    assert consumer.producer == (proxy, False)
    proxy.write(b"held")
    assert consumer._writes == []
    proxy.resumeProducing()
    assert consumer._writes == [b"held"]
    assert getattr(impl, name)(None).iAmStreaming is True


def test_instance_assignment_beats_class_override(impl):
    class Small(impl.ProducerConsumerProxy):
        bufferSize = 10

    proxy = Small(None)
    proxy.bufferSize = 500
    assert proxy.bufferSize == 500
    assert Small(None).bufferSize == 10


# -- Twisted interfaces ------------------------------------------------------------------


def test_zope_interfaces(proxyClass):
    pytest.importorskip("zope.interface")
    interfaces = pytest.importorskip("twisted.internet.interfaces")
    from zope.interface.verify import verifyObject

    proxy = proxyClass(DummyConsumer())
    assert verifyObject(interfaces.IConsumer, proxy)
    assert verifyObject(interfaces.IPushProducer, proxy)
    assert interfaces.IConsumer.providedBy(proxy)
    assert interfaces.IProducer.providedBy(proxy)


# -- large chunks (kept by reference in the compiled core) -------------------------------


def test_single_large_chunk_buffered_alone(proxyClass):
    consumer = DummyConsumer()
    proxy = proxyClass(consumer)
    proxy.pauseProducing()
    big = os.urandom(100_000)
    proxy.write(big)
    assert proxy.bufferedBytes == 100_000
    proxy.resumeProducing()
    assert consumer._writes == [big]


def test_large_chunk_partly_sent_then_small_writes(impl):
    consumer = EventConsumer()
    proxy = windowed(impl.ProducerConsumerProxy)(consumer)
    big = os.urandom(10_000)
    proxy.pauseProducing()
    proxy.write(b"head")
    proxy.write(big)
    proxy.write(b"tail")
    proxy.window = 5000
    proxy.resumeProducing()
    proxy.write(b"more")
    proxy.write(os.urandom(5000))
    proxy.window = 1
    proxy.resumeProducing()
    proxy.window = sys.maxsize
    proxy.resumeProducing()
    assert consumer.getvalue()[: 4 + 10_000 + 8] == b"head" + big + b"tail" + b"more"
    assert proxy.bufferedBytes == 0


@pytest.mark.parametrize("seed", range(12))
def test_large_and_small_chunks_keep_their_order(impl, seed):
    rng = random.Random(seed)
    consumer = EventConsumer()
    proxy = windowed(impl.ProducerConsumerProxy)(consumer)
    proxy.window = rng.choice([0, sys.maxsize])
    expected = bytearray()
    mutable = []
    for _ in range(150):
        op = rng.random()
        if op < 0.55:
            size = rng.choice([1, 7, 300, 4095, 4096, 4097, 9000, 20000])
            data = rng.randbytes(size)
            kind = rng.choice(["bytes", "bytes", "bytearray", "memoryview"])
            if kind == "bytearray":
                obj = bytearray(data)
                mutable.append(obj)
            elif kind == "memoryview":
                obj = memoryview(data)
            else:
                obj = data
            proxy.write(obj)
            expected += data
        elif op < 0.75:
            proxy.window = rng.choice([0, 1, 100, 4096, 5000, 30000, sys.maxsize])
            proxy.resumeProducing()
        elif op < 0.85:
            proxy.pauseProducing()
        else:
            for obj in mutable:
                obj[:] = b"!" * len(obj)
        assert consumer.getvalue() == bytes(expected[: proxy.bytesSent])
        assert proxy.bufferedBytes == len(expected) - proxy.bytesSent
    proxy.window = sys.maxsize
    proxy.resumeProducing()
    assert consumer.getvalue() == bytes(expected)


def parse_chunks(stream: bytes, chunks: list) -> list:
    """Split *stream* into the numbered chunks of ``tagged``; return their numbers.

    Fails if any chunk arrives altered; a trailing partial chunk must be a
    true prefix of its chunk.
    """
    ids = []
    pos = 0
    while pos < len(stream):
        if len(stream) - pos < 8:
            break
        number, size = struct.unpack_from(">II", stream, pos)
        assert number < len(chunks), f"garbage at offset {pos}"
        whole = chunks[number]
        piece = stream[pos : pos + 8 + size]
        assert piece == whole[: len(piece)], f"chunk {number} altered"
        if len(piece) < len(whole):
            break
        ids.append(number)
        pos += len(whole)
    return ids


@pytest.mark.parametrize("seed", range(25))
def test_random_reentrant_consumer_loses_and_duplicates_nothing(impl, seed):
    """A consumer that writes, pauses and resumes the proxy from inside its writes.

    Each chunk arrives once, whole; chunks of one top-level step arrive after
    those of earlier steps. (Within a step, a write that first drains leftovers
    is accepted after the writes the consumer makes during that drain, so the
    order inside a step is not fixed here.)
    """
    rng = random.Random(seed)
    chunks = []
    step_of = []
    proxy = None
    depth = [0]
    step = [0]

    def write(size):
        number = len(chunks)
        data = struct.pack(">II", number, size) + rng.randbytes(size)
        chunks.append(data)
        step_of.append(step[0])
        proxy.write(data if rng.random() < 0.7 else bytearray(data))

    def react(n):
        if depth[0] > 3:
            return
        depth[0] += 1
        try:
            for _ in range(rng.choice([0, 0, 1, 2])):
                r = rng.random()
                if r < 0.5:
                    write(rng.choice([1, 5, 4096, 5000]))
                elif r < 0.7:
                    proxy.pauseProducing()
                elif r < 0.9:
                    proxy.window = rng.choice([0, 3, 10_000])
                    proxy.resumeProducing()
                else:
                    proxy.window = rng.choice([0, 1, 100])
        finally:
            depth[0] -= 1

    consumer = EventConsumer(on_write=react)
    proxy = windowed(impl.ProducerConsumerProxy)(consumer)
    proxy.bufferSize = 3000
    producer = EventProducer()
    proxy.registerProducer(producer, True)
    for step[0] in range(150):
        r = rng.random()
        if r < 0.5:
            write(rng.choice([1, 10, 700, 4096, 9000]))
        elif r < 0.65:
            proxy.pauseProducing()
        else:
            proxy.window = rng.choice([0, 1, 50, 5000, sys.maxsize])
            proxy.resumeProducing()
        assert proxy.bufferedBytes == sum(map(len, chunks)) - proxy.bytesSent
        assert proxy.bytesSent == len(consumer.getvalue())
    step[0] += 1
    while proxy.bufferedBytes:
        proxy.window = sys.maxsize
        proxy.resumeProducing()
    ids = parse_chunks(consumer.getvalue(), chunks)
    assert sorted(ids) == list(range(len(chunks)))
    steps = [step_of[i] for i in ids]
    assert steps == sorted(steps)
    # The producer was never resumed without a pause before, nor paused twice.
    pattern = "".join("p" if e == "pause" else "r" for e in producer.events)
    assert "pp" not in pattern and "rr" not in pattern and not pattern.startswith("r")
