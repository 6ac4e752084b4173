"""Re-entrant calls into the proxies, from the consumer and from the producer.

A consumer's ``write`` may call back into the proxy that is writing to it
(``pauseProducing``, ``resumeProducing``, ``write``, ``stopProducing``), as a
Twisted transport does when its buffer fills or drains. A producer's
``resumeProducing`` may write synchronously, many times. Whatever the nesting:

* the consumer receives a prefix of what the proxy accepted, in order, each
  byte once, as non-empty ``bytes``;
* the counters add up (``bytesReceived = bytesSent + bufferedBytes``);
* nothing recurses without bound (thousands of nested writes stay iterative);
* once the callbacks stop and the consumer resumes us, everything accepted
  arrives (unless the proxy was stopped).
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, List, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CONFIGS = ["basic", "buffered", "basic-pull", "buffered-pull"]


def make_proxy_class(impl: Any, config: str) -> type:
    """The proxy class for *config* ("basic"/"buffered", "-pull" for iAmStreaming False)."""
    base = impl.ProducerConsumerProxy if config.startswith("buffered") else impl.BasicProducerConsumerProxy
    if config.endswith("-pull"):
        return type(base.__name__ + "Pull", (base,), {"iAmStreaming": False})
    return base


class Consumer:
    """Records writes; ``on_write(consumer, data)`` runs inside each write, after recording."""

    def __init__(self) -> None:
        self.chunks: List[bytes] = []
        self.on_write: Optional[Callable[["Consumer", bytes], None]] = None
        self.proxy: Any = None
        self.finishes = 0
        self.unregisters = 0
        self.depth = 0
        self.max_depth = 0

    @property
    def received(self) -> bytes:
        return b"".join(self.chunks)

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.proxy = producer

    def unregisterProducer(self) -> None:
        self.unregisters += 1

    def finish(self) -> None:
        self.finishes += 1

    def write(self, data: bytes) -> None:
        assert type(data) is bytes and data, repr(data)[:40]
        self.chunks.append(data)
        self.depth += 1
        self.max_depth = max(self.max_depth, self.depth)
        try:
            if self.on_write is not None:
                self.on_write(self, data)
        finally:
            self.depth -= 1


class Stream:
    """Distinct bytes for each write, and the record of what the proxy accepted."""

    def __init__(self, proxy: Any) -> None:
        self.proxy = proxy
        self.accepted = bytearray()
        self.counter = itertools.count()

    def chunk(self, size: int) -> bytes:
        start = next(self.counter)
        return bytes((start * 7 + i) % 251 for i in range(size))

    def write(self, size: int) -> None:
        """Write *size* fresh bytes through the proxy, recording them if accepted.

        Writes made from callbacks during this one (nested) queue behind the
        data being delivered when they are made: behind this write's data if
        it is on its way to the consumer, ahead of it if the proxy is first
        sending what it had buffered (leftovers go first).
        """
        proxy = self.proxy
        data = self.chunk(size)
        before = proxy.bytesReceived
        consumer = proxy.consumer
        leftovers_first = (
            proxy.bufferedBytes
            and not proxy.paused
            and not proxy.stopped
            and consumer is not None
            and consumer.depth == 0
            and (proxy.iAmStreaming or proxy.outstandingPull)
        )
        pos = len(self.accepted)
        if not leftovers_first:
            self.accepted += data
        try:
            proxy.write(data)
        finally:
            nested = len(self.accepted) - pos - (0 if leftovers_first else size)
            taken = proxy.bytesReceived - before - nested
            assert taken in (0, size), (taken, size, nested)
            if leftovers_first and taken:
                self.accepted += data
            elif not leftovers_first and not taken:
                del self.accepted[pos : pos + size]


def check(proxy: Any, consumer: Consumer, stream: Stream) -> None:
    """The consumer got a prefix of what was accepted and the counters add up."""
    got = consumer.received
    assert got == stream.accepted[: len(got)], "out of order, duplicated or corrupted"
    assert proxy.bytesReceived == len(stream.accepted)
    assert proxy.bytesSent == len(got)
    assert proxy.bufferedBytes == len(stream.accepted) - len(got)


def drain(proxy: Any, consumer: Consumer, stream: Stream) -> None:
    """Stop the callbacks, resume until empty; everything accepted has arrived."""
    consumer.on_write = None
    for _ in range(3):
        proxy.resumeProducing()
    check(proxy, consumer, stream)
    if not proxy.stopped:
        assert consumer.received == bytes(stream.accepted)
        assert proxy.bufferedBytes == 0


def setup(impl: Any, config: str, **marks: int):
    consumer = Consumer()
    proxy = make_proxy_class(impl, config)(consumer)
    for name, value in marks.items():
        setattr(proxy, name, value)
    if config.endswith("-pull"):
        proxy.resumeProducing()  # the consumer asks for data
    return proxy, consumer, Stream(proxy)


# -- a consumer that calls back into the proxy ------------------------------------


@pytest.mark.parametrize("config", CONFIGS)
def test_consumer_pauses_inside_every_write(impl, config):
    proxy, consumer, stream = setup(impl, config)
    consumer.on_write = lambda c, data: c.proxy.pauseProducing()
    for size in range(1, 60):
        stream.write(size)
        check(proxy, consumer, stream)
    # Only the first write got through; the rest waits, in order.
    assert len(consumer.chunks) == 1 and proxy.paused
    resumes = 0
    while proxy.bufferedBytes:
        before = len(consumer.chunks)
        proxy.resumeProducing()
        resumes += 1
        # Each resume sends what is buffered as one write, then we are paused again.
        assert len(consumer.chunks) == before + 1 and proxy.paused
        check(proxy, consumer, stream)
    assert resumes == 1
    drain(proxy, consumer, stream)


@pytest.mark.parametrize("config", CONFIGS)
def test_consumer_pauses_inside_every_write_while_the_producer_keeps_writing(impl, config):
    proxy, consumer, stream = setup(impl, config)
    consumer.on_write = lambda c, data: c.proxy.pauseProducing()
    for size in itertools.islice(itertools.cycle([1, 5, 17, 300]), 400):
        stream.write(size)
        if size == 300:
            proxy.resumeProducing()  # the transport drained: one write, paused again
            assert proxy.paused and proxy.bufferedBytes == 0
        check(proxy, consumer, stream)
    drain(proxy, consumer, stream)


@pytest.mark.parametrize("config", CONFIGS)
def test_consumer_resumes_inside_write(impl, config):
    proxy, consumer, stream = setup(impl, config)
    consumer.on_write = lambda c, data: c.proxy.resumeProducing()
    proxy.pauseProducing()
    for size in (3, 1, 4, 1, 5):
        stream.write(size)
    proxy.resumeProducing()
    check(proxy, consumer, stream)
    for size in range(1, 100):
        stream.write(size)
        check(proxy, consumer, stream)
    assert consumer.max_depth == 1
    drain(proxy, consumer, stream)


@pytest.mark.parametrize("config", CONFIGS)
def test_consumer_pauses_and_resumes_inside_write(impl, config):
    proxy, consumer, stream = setup(impl, config)

    def flap(c, data):
        c.proxy.pauseProducing()
        c.proxy.resumeProducing()

    consumer.on_write = flap
    for size in range(1, 80):
        stream.write(size)
        check(proxy, consumer, stream)
    drain(proxy, consumer, stream)


@pytest.mark.parametrize("config", CONFIGS)
def test_consumer_writes_back_inside_write(impl, config):
    proxy, consumer, stream = setup(impl, config)
    budget = iter(range(500))

    def write_back(c, data):
        # Each delivery makes the proxy accept one more chunk, 500 in all.
        if next(budget, None) is not None:
            stream.write(len(data) % 13 + 1)

    consumer.on_write = write_back
    stream.write(10)
    check(proxy, consumer, stream)
    if not config.endswith("-pull"):
        # A streaming proxy's flush loop sends what arrives while it sends,
        # iteratively: all 501 chunks went out before write() returned.
        assert proxy.bufferedBytes == 0 and len(stream.accepted) > 500
        assert consumer.max_depth == 1
    drain(proxy, consumer, stream)


@pytest.mark.parametrize("config", CONFIGS)
def test_consumer_writes_back_while_the_proxy_is_paused(impl, config):
    proxy, consumer, stream = setup(impl, config)
    proxy.pauseProducing()
    for size in (2, 3):
        stream.write(size)
    consumer.on_write = lambda c, data: stream.write(1) if len(stream.accepted) < 50 else None
    proxy.resumeProducing()
    check(proxy, consumer, stream)
    drain(proxy, consumer, stream)


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("nth", [1, 2, 5])
def test_consumer_stops_inside_write(impl, config, nth):
    proxy, consumer, stream = setup(impl, config)
    producer = Producer(proxy, streaming=True)
    proxy.registerProducer(producer, True)
    calls = itertools.count(1)

    def stop_on_nth(c, data):
        if next(calls) == nth:
            c.proxy.stopProducing()

    consumer.on_write = stop_on_nth
    discarded = 0
    proxy.pauseProducing()
    for size in itertools.chain(range(1, 30), [None], range(1, 30)):
        if size is None:
            proxy.resumeProducing()
            continue
        discarded += size if proxy.stopped else 0
        stream.write(size)
        if size % 4 == 0:
            proxy.resumeProducing()
            proxy.pauseProducing()
    check(proxy, consumer, stream)
    assert proxy.stopped and proxy.consumer is None
    assert producer.stops == 1
    assert len(consumer.chunks) == nth  # nothing reached the consumer after it stopped us
    assert proxy.bytesDiscarded == discarded >= sum(range(1, 30))
    delivered = len(consumer.received)
    drain(proxy, consumer, stream)
    assert len(consumer.received) == delivered


ACTIONS = ["nothing", "pause", "resume", "pause-resume", "write", "write-twice", "stop", "finish"]


@pytest.mark.parametrize("config", CONFIGS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    script=st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=30),
    sizes=st.lists(st.integers(0, 50), min_size=1, max_size=40),
    resume_every=st.integers(1, 8),
)
def test_consumer_does_anything_inside_write(impl, config, script, sizes, resume_every):
    """A random script of callbacks, one per delivery (cycled, 300 at most)."""
    proxy, consumer, stream = setup(impl, config)
    actions = itertools.islice(itertools.cycle(script), 300)
    finish_calls = []

    def act(c, data):
        action = next(actions, "nothing")
        finish_calls.append(action == "finish")
        if action == "pause":
            proxy.pauseProducing()
        elif action == "resume":
            proxy.resumeProducing()
        elif action == "pause-resume":
            proxy.pauseProducing()
            proxy.resumeProducing()
        elif action.startswith("write"):
            for _ in range(2 if action == "write-twice" else 1):
                stream.write(len(data) % 7)
        elif action == "stop":
            proxy.stopProducing()
        elif action == "finish":
            proxy.finish()

    consumer.on_write = act
    for i, size in enumerate(sizes):
        stream.write(size)
        check(proxy, consumer, stream)
        if i % resume_every == 0:
            proxy.resumeProducing()
            check(proxy, consumer, stream)
    assert consumer.max_depth <= 1
    drain(proxy, consumer, stream)
    # Each finish() reaches the consumer once drained; several while
    # something is still buffered reach it once.
    assert consumer.finishes <= sum(finish_calls)
    assert consumer.unregisters == consumer.finishes
    if any(finish_calls) and not proxy.stopped:
        assert consumer.finishes >= 1


# -- a producer that writes from resumeProducing ------------------------------------


class Producer:
    """A producer that writes *per_resume* chunks each time it is resumed or pulled.

    As a push producer it keeps writing until it is paused (checked after
    every write) or its *total* is spent; as a pull producer it writes
    *per_resume* chunks for each resumeProducing, however many that is.
    """

    def __init__(self, proxy: Any, streaming: bool, stream: Optional[Stream] = None,
                 per_resume: int = 0, total: int = 0, size: int = 1) -> None:
        self.proxy = proxy
        self.streaming = streaming
        self.stream = stream
        self.per_resume = per_resume
        self.left = total
        self.size = size
        self.paused = False
        self.pauses = self.resumes = self.stops = 0
        self.depth = self.max_depth = 0

    def pauseProducing(self) -> None:
        self.paused = True
        self.pauses += 1

    def stopProducing(self) -> None:
        self.stops += 1

    def resumeProducing(self) -> None:
        self.paused = False
        self.resumes += 1
        self.depth += 1
        self.max_depth = max(self.max_depth, self.depth)
        try:
            for _ in range(self.per_resume):
                if self.left <= 0 or (self.streaming and self.paused):
                    break
                self.left -= 1
                self.stream.write(self.size)
        finally:
            self.depth -= 1


@pytest.mark.parametrize("config", ["buffered", "buffered-pull"])
def test_push_producer_writing_thousands_of_times_per_resume_is_paused_at_the_mark(impl, config):
    proxy, consumer, stream = setup(impl, config, bufferSize=256, lowWater=64)
    producer = Producer(proxy, True, stream, per_resume=10**6, total=20000, size=3)
    proxy.registerProducer(producer, True)
    proxy.pauseProducing()  # the transport is full
    producer.resumeProducing()  # the producer starts: writes until paused at the mark
    assert producer.paused and proxy.bufferedBytes >= 256
    consumer.on_write = lambda c, data: c.proxy.pauseProducing()  # one write per resume
    while producer.left or proxy.bufferedBytes:
        proxy.resumeProducing()
        check(proxy, consumer, stream)
        # A producer that stops when paused never overfills the buffer.
        assert proxy.bufferedBytes < 256 + 3
    assert len(stream.accepted) == 60000
    assert proxy.peakBufferedBytes < 256 + 3
    assert proxy.producerPauses == producer.pauses > 10
    assert producer.max_depth == 1
    drain(proxy, consumer, stream)


@pytest.mark.parametrize("config", CONFIGS)
def test_push_producer_writes_synchronously_from_a_relayed_resume(impl, config):
    proxy, consumer, stream = setup(impl, config)
    producer = Producer(proxy, True, stream, per_resume=5000, total=5000, size=2)
    proxy.registerProducer(producer, True)
    proxy.pauseProducing()
    proxy.resumeProducing()  # relayed (Basic) or not (buffered): either way no recursion
    if producer.resumes == 0:
        producer.resumeProducing()
    check(proxy, consumer, stream)
    assert len(stream.accepted) == 10000
    drain(proxy, consumer, stream)


@pytest.mark.parametrize("config", CONFIGS)
def test_consumer_resume_drives_a_producer_that_writes_many_times(impl, config):
    """consumer.write -> proxy.resumeProducing -> producer.resumeProducing -> proxy.write * n."""
    proxy, consumer, stream = setup(impl, config, **({"bufferSize": 1 << 20} if "buffered" in config else {}))
    streaming = config == "basic"
    producer = Producer(proxy, streaming, stream, per_resume=50, total=5000, size=4)
    proxy.registerProducer(producer, streaming)
    consumer.on_write = lambda c, data: c.proxy.resumeProducing()
    stream.write(1)
    for _ in range(200):
        if not producer.left:
            break
        proxy.resumeProducing()
    check(proxy, consumer, stream)
    assert producer.left == 0 and len(stream.accepted) == 1 + 5000 * 4
    assert consumer.max_depth == 1
    drain(proxy, consumer, stream)


@pytest.mark.parametrize("config", ["basic", "buffered"])
def test_pull_producer_writing_many_times_per_pull(impl, config):
    marks = {"bufferSize": 100, "lowWater": 10} if config == "buffered" else {}
    proxy, consumer, stream = setup(impl, config, **marks)
    producer = Producer(proxy, False, stream, per_resume=40, total=4000, size=5)
    proxy.registerProducer(producer, False)
    # A streaming proxy keeps pulling while it wants data: everything flows at once.
    assert producer.left == 0
    assert len(stream.accepted) == 20000
    check(proxy, consumer, stream)
    assert producer.max_depth == 1
    drain(proxy, consumer, stream)


@pytest.mark.parametrize("config", ["basic", "buffered"])
def test_pull_producer_and_a_consumer_that_pauses_after_every_write(impl, config):
    marks = {"bufferSize": 100, "lowWater": 10} if config == "buffered" else {}
    proxy, consumer, stream = setup(impl, config, **marks)
    consumer.on_write = lambda c, data: c.proxy.pauseProducing()
    producer = Producer(proxy, False, stream, per_resume=30, total=3000, size=5)
    proxy.registerProducer(producer, False)
    pulls = producer.resumes
    assert proxy.paused and producer.left > 0  # paused after the first write: no more pulls
    for _ in range(10000):
        if not producer.left and not proxy.bufferedBytes:
            break
        proxy.resumeProducing()
        check(proxy, consumer, stream)
        if config == "buffered":
            assert proxy.bufferedBytes < 100 + 30 * 5
    assert producer.left == 0 and producer.resumes > pulls
    drain(proxy, consumer, stream)


@pytest.mark.parametrize("config", ["basic-pull", "buffered-pull"])
def test_pull_proxy_with_a_pull_producer_writing_many_times_per_pull(impl, config):
    proxy, consumer, stream = setup(impl, config)
    producer = Producer(proxy, False, stream, per_resume=25, total=2500, size=3)
    proxy.registerProducer(producer, False)
    for _ in range(1000):
        if not producer.left and not proxy.bufferedBytes:
            break
        before = producer.resumes
        proxy.resumeProducing()
        # A pull proxy pulls at most once per resume, on behalf of its consumer.
        assert producer.resumes <= before + 1
        check(proxy, consumer, stream)
    assert producer.left == 0
    assert producer.max_depth == 1
    drain(proxy, consumer, stream)
