"""ReferenceProxy (pcp._reference), the plain-Python yardstick of pcp's benchmarks: correct on bytes."""

from __future__ import annotations

import pytest

from pcp._reference import ReferenceProxy


# -- the reference proxy ----------------------------------------------------------------


class Consumer:
    def __init__(self):
        self.writes = []
        self.producer = None

    def registerProducer(self, producer, streaming):
        self.producer = (producer, streaming)

    def write(self, data):
        self.writes.append(data)


class Producer:
    def __init__(self):
        self.events = []

    def pauseProducing(self):
        self.events.append("pause")

    def resumeProducing(self):
        self.events.append("resume")

    def stopProducing(self):
        self.events.append("stop")


def test_reference_buffers_while_paused_and_flushes_in_one_write():
    consumer = Consumer()
    proxy = ReferenceProxy(consumer)
    assert consumer.producer == (proxy, True)
    proxy.write(b"a")
    proxy.pauseProducing()
    source = bytearray(b"bc")
    proxy.write(source)
    source[:] = b"zz"  # the proxy copied it
    proxy.write(b"d")
    assert consumer.writes == [b"a"]
    proxy.resumeProducing()
    assert consumer.writes == [b"a", b"bcd"]
    assert all(type(w) is bytes for w in consumer.writes)
    with pytest.raises(TypeError):
        proxy.write("text")


def test_reference_pauses_its_producer_at_the_high_mark_and_resumes_at_the_low():
    consumer = Consumer()
    proxy = ReferenceProxy(consumer)
    proxy.bufferSize = 100
    producer = Producer()
    proxy.registerProducer(producer, True)
    proxy.pauseProducing()
    for _ in range(4):
        proxy.write(b"x" * 30)
    assert producer.events == ["pause"]
    proxy.resumeProducing()
    assert producer.events == ["pause", "resume"]
    assert consumer.writes == [b"x" * 120]


def test_reference_pull_proxy_with_partial_writes_delivers_in_order_and_stays_bounded():
    consumer = Consumer()

    class Partial(ReferenceProxy):
        iAmStreaming = False

        def _writeSomeData(self, data):
            self.consumer.write(data[:5])
            return min(len(data), 5)

    proxy = Partial(consumer)
    chunks = iter([b"0123456789", b"abcdefghij", b"KLMNOPQRST"])

    class Pull:
        def resumeProducing(self):
            chunk = next(chunks, None)
            if chunk is not None:
                proxy.write(chunk)

        def stopProducing(self):
            pass

    proxy.registerProducer(Pull(), False)
    for _ in range(12):
        proxy.resumeProducing()
        assert proxy._size <= 10
    assert b"".join(consumer.writes) == b"0123456789abcdefghijKLMNOPQRST"
