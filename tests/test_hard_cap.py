"""The hard cap, ``maxBufferSize``: a producer that ignores pauseProducing cannot overfill us.

Off by default. When set (at or above the high-water mark ``bufferSize``),
the write that would take the buffer past it raises ``pcp.BufferFull``;
nothing of that write is buffered or counted; everything accepted before it
still flushes, in order; and the buffer never holds more than the cap.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pcp

KINDS = {
    "bytes": bytes,
    "bytearray": bytearray,
    "memoryview": lambda b: memoryview(bytes(b)),
    "window": lambda b: memoryview(bytearray(b"<" + b + b">"))[1 : 1 + len(b)],
}


class Sink:
    """A consumer that records writes."""

    def __init__(self) -> None:
        self.chunks: list = []

    def registerProducer(self, producer, streaming) -> None:
        self.producer = producer

    def unregisterProducer(self) -> None:
        pass

    def write(self, data: bytes) -> None:
        assert type(data) is bytes and data
        self.chunks.append(data)

    @property
    def received(self) -> bytes:
        return b"".join(self.chunks)


class RudeProducer:
    """A push producer that is told to pause and does not care."""

    def __init__(self) -> None:
        self.pauses = 0
        self.resumes = 0

    def pauseProducing(self) -> None:
        self.pauses += 1

    def resumeProducing(self) -> None:
        self.resumes += 1

    def stopProducing(self) -> None:
        pass


def capped(impl, high=1000, cap=3000, basic=False):
    sink = Sink()
    cls = impl.BasicProducerConsumerProxy if basic else impl.ProducerConsumerProxy
    proxy = cls(sink)
    if not basic:
        proxy.bufferSize = high
    proxy.maxBufferSize = cap
    producer = RudeProducer()
    proxy.registerProducer(producer, True)
    return proxy, sink, producer


def test_off_by_default(impl):
    for cls in (impl.BasicProducerConsumerProxy, impl.ProducerConsumerProxy):
        proxy = cls(Sink())
        assert proxy.maxBufferSize is None
        proxy.pauseProducing()
        proxy.write(b"x" * (1 << 20))  # far past any mark: buffered, no exception
        assert proxy.bufferedBytes == 1 << 20


def test_cap_is_not_below_the_high_water_mark(impl):
    proxy = impl.ProducerConsumerProxy(Sink())
    proxy.bufferSize = 100
    with pytest.raises(ValueError):
        proxy.maxBufferSize = 99
    assert proxy.maxBufferSize is None
    proxy.maxBufferSize = 100  # equal is allowed
    assert proxy.maxBufferSize == 100
    with pytest.raises(ValueError):
        proxy.bufferSize = 101
    proxy.maxBufferSize = None
    assert proxy.maxBufferSize is None


def test_buffer_full_is_documented():
    assert issubclass(pcp.BufferFull, Exception)
    assert "maxBufferSize" in pcp.BufferFull.__doc__
    assert "BufferFull" in pcp.ProducerConsumerProxy.maxBufferSize.__doc__


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", [7, 100, 4096, 5000])
def test_rude_producer_stops_at_the_cap(impl, kind, size):
    """Writes until refused: the crossing write raises, nothing of it stays, the rest flushes."""
    high, cap = 10 * size, 25 * size + size // 2
    proxy, sink, producer = capped(impl, high, cap)
    proxy.pauseProducing()  # the consumer is not reading
    accepted = bytearray()
    for i in range(100):
        data = bytes([i]) * size
        before = (proxy.bufferedBytes, proxy.bytesReceived, proxy.peakBufferedBytes)
        try:
            proxy.write(KINDS[kind](data))
        except pcp.BufferFull as exc:
            message = str(exc)
            assert (proxy.bufferedBytes, proxy.bytesReceived, proxy.peakBufferedBytes) == before
            break
        accepted += data
        assert proxy.bufferedBytes <= cap
    else:
        pytest.fail("the cap never refused a write")
    assert len(accepted) == 25 * size  # the 26th write would cross the cap
    assert str(size) in message and str(cap) in message and "maxBufferSize" in message
    assert producer.pauses == 1  # it was told, at the high-water mark
    # Refused again, however often it tries; smaller writes that fit still go in.
    for _ in range(3):
        with pytest.raises(pcp.BufferFull):
            proxy.write(KINDS[kind](b"!" * size))
    small = bytes(i % 256 for i in range(size // 2))
    proxy.write(KINDS[kind](small))
    accepted += small
    assert proxy.bufferedBytes == cap
    with pytest.raises(pcp.BufferFull):
        proxy.write(b"!")
    proxy.write(b"")  # an empty write crosses nothing
    # Everything accepted flushes, once, in order.
    proxy.resumeProducing()
    assert sink.received == accepted
    assert proxy.bufferedBytes == 0 and proxy.bytesSent == len(accepted)
    assert proxy.peakBufferedBytes == cap
    # And the producer can write again.
    proxy.write(b"after")
    assert sink.received == accepted + b"after"


def test_write_exactly_up_to_the_cap(impl):
    proxy, sink, _ = capped(impl, 10, 30)
    proxy.pauseProducing()
    proxy.write(b"a" * 30)
    assert proxy.bufferedBytes == 30
    with pytest.raises(pcp.BufferFull):
        proxy.write(b"b")
    proxy.resumeProducing()
    assert sink.received == b"a" * 30


def test_single_write_larger_than_the_cap_is_refused(impl):
    # Even with nothing buffered: a consumer may take only part of it.
    proxy, sink, _ = capped(impl, 10, 30)
    with pytest.raises(pcp.BufferFull):
        proxy.write(b"x" * 31)
    assert sink.chunks == [] and proxy.bytesReceived == 0
    proxy.write(b"x" * 30)
    assert sink.received == b"x" * 30


def test_cap_on_the_basic_proxy(impl):
    proxy, sink, producer = capped(impl, cap=50, basic=True)
    proxy.pauseProducing()  # relayed to our producer, which ignores it
    assert producer.pauses == 1
    proxy.write(b"1" * 40)
    with pytest.raises(pcp.BufferFull):
        proxy.write(b"2" * 11)
    proxy.write(b"3" * 10)
    proxy.resumeProducing()
    assert sink.received == b"1" * 40 + b"3" * 10


def test_partial_writes_never_leave_more_than_the_cap(impl):
    class Slow(impl.ProducerConsumerProxy):
        take = 3

        def _writeSomeData(self, data):
            self.consumer.write(data[: self.take])
            return min(self.take, len(data))

    sink = Sink()
    proxy = Slow(sink)
    proxy.bufferSize = 20
    proxy.maxBufferSize = 40
    accepted = bytearray()
    refused = 0
    for i in range(200):
        data = bytes([i % 256]) * (i % 17 + 1)
        try:
            proxy.write(data)
            accepted += data
        except pcp.BufferFull:
            refused += 1
        assert proxy.bufferedBytes <= 40
        assert sink.received == accepted[: len(sink.received)]
    assert refused > 0
    Slow.take = 10**6
    proxy.resumeProducing()
    assert sink.received == accepted


def test_empty_write_is_never_refused(impl):
    proxy, sink, _ = capped(impl, 10, 100)
    proxy.pauseProducing()
    proxy.write(b"x" * 80)
    proxy.maxBufferSize = 50  # allowed: the cap only stops what comes next
    with pytest.raises(pcp.BufferFull):
        proxy.write(b"y")
    proxy.write(b"")  # crosses nothing
    proxy.resumeProducing()
    assert sink.received == b"x" * 80


def test_writes_after_stop_are_discarded_not_refused(impl):
    proxy, sink, _ = capped(impl, 10, 20)
    proxy.pauseProducing()
    proxy.write(b"k" * 20)
    proxy.stopProducing()
    proxy.write(b"z" * 1000)  # reaches nobody: counted, not an error
    assert proxy.bytesDiscarded == 1000
    assert proxy.bufferedBytes == 20


def test_refused_write_leaves_the_marks_alone(impl):
    proxy, sink, producer = capped(impl, high=100, cap=150)
    proxy.pauseProducing()
    proxy.write(b"a" * 120)
    assert proxy.producerPaused and producer.pauses == 1
    with pytest.raises(pcp.BufferFull):
        proxy.write(b"b" * 31)
    assert proxy.producerPaused and producer.pauses == 1 and producer.resumes == 0
    proxy.resumeProducing()
    assert not proxy.producerPaused and producer.resumes == 1


@pytest.mark.parametrize("basic", [False, True], ids=["buffered", "basic"])
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("write"), st.integers(0, 120), st.sampled_from(sorted(KINDS))),
            st.tuples(st.just("resume"), st.booleans(), st.just("")),
        ),
        max_size=60,
    ),
    cap_extra=st.integers(0, 150),
)
def test_random_rude_traffic_never_exceeds_the_cap(impl, basic, steps, cap_extra):
    high = 50
    proxy, sink, _ = capped(impl, high, high + cap_extra, basic=basic)
    cap = high + cap_extra
    proxy.pauseProducing()
    accepted = bytearray()
    counter = 0
    for op, arg, kind in steps:
        if op == "resume":
            proxy.resumeProducing()
            if arg:
                proxy.pauseProducing()
        else:
            data = bytes((counter + i) % 256 for i in range(arg))
            counter += 1
            before = proxy.bufferedBytes
            try:
                proxy.write(KINDS[kind](data))
            except pcp.BufferFull:
                assert arg > cap - before
                assert proxy.bufferedBytes == before
            else:
                accepted += data
        assert proxy.bufferedBytes <= cap
        assert proxy.peakBufferedBytes <= cap
        assert sink.received == accepted[: len(sink.received)]
    proxy.resumeProducing()
    assert sink.received == accepted


# -- in a real reactor --------------------------------------------------------------

REACTOR_SCRIPT = textwrap.dedent(
    r"""
    # A rude producer behind a capped proxy wrapped around a real TCP transport
    # whose peer does not read for a while. Prints: accepted refused received ok.
    import hashlib, sys
    from twisted.internet import protocol, reactor
    import pcp

    CAP, HIGH, CHUNK = 256 * 1024, 64 * 1024, 16 * 1024
    TOTAL = 16 * 1024 * 1024
    out = {"accepted": hashlib.sha256(), "n": 0, "refused": 0, "got": hashlib.sha256(), "m": 0}

    class Reader(protocol.Protocol):
        def connectionMade(self):
            self.transport.pauseProducing()  # do not read yet: the sender's buffers fill
            reactor.callLater(1.0, self.transport.resumeProducing)
        def dataReceived(self, data):
            out["got"].update(data); out["m"] += len(data)
            if out["m"] == out["n"] and sender.done:
                reactor.stop()

    class Rude:
        # Ignores pauseProducing: keeps writing every tick.
        def __init__(self, proxy): self.proxy, self.i, self.done = proxy, 0, False
        def pauseProducing(self): pass
        def resumeProducing(self): pass
        def stopProducing(self): pass
        def tick(self):
            sent = 0
            while sent < 4 * CHUNK and out["n"] < TOTAL:
                data = bytes([self.i % 251]) * CHUNK
                self.i += 1
                try:
                    self.proxy.write(data)
                except pcp.BufferFull:
                    out["refused"] += 1
                    break
                assert self.proxy.bufferedBytes <= CAP
                out["accepted"].update(data); out["n"] += len(data); sent += len(data)
            if out["n"] >= TOTAL or self.i > 20000:
                self.done = True
                if out["m"] == out["n"]:
                    reactor.stop()
                return
            reactor.callLater(0.001, self.tick)

    class Sender(protocol.Protocol):
        def connectionMade(self):
            global sender
            proxy = pcp.ProducerConsumerProxy(self.transport)
            proxy.bufferSize, proxy.maxBufferSize = HIGH, CAP
            sender = Rude(proxy)
            proxy.registerProducer(sender, True)
            sender.tick()

    sender = None
    server = protocol.Factory.forProtocol(Reader)
    port = reactor.listenTCP(0, server, interface="127.0.0.1")
    protocol.ClientCreator(reactor, Sender).connectTCP("127.0.0.1", port.getHost().port)
    reactor.callLater(60, reactor.stop)
    reactor.run()
    ok = out["accepted"].digest() == out["got"].digest()
    print(out["n"], out["refused"], out["m"], ok)
    """
)


@pytest.mark.twisted
def test_rude_producer_against_a_real_transport(impl, tmp_path):
    pytest.importorskip("twisted")
    script = tmp_path / "rude.py"
    script.write_text(REACTOR_SCRIPT)
    env = dict(os.environ)
    if impl.kind == "twin":
        env["PCP_NO_EXTENSIONS"] = "1"
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr
    accepted, refused, received, ok = result.stdout.split()
    assert int(refused) > 0, "the reader's pause never made the cap refuse a write"
    assert int(received) == int(accepted) > 0
    assert ok == "True"
