"""pcp's proxies as a typed user meets them: this file must pass mypy --strict
and pyright (strict) with no error, and it runs.
"""

# pyright: strict

from __future__ import annotations

import pcp


class Sink:
    """A consumer that keeps what it is given."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    def registerProducer(self, producer: object, streaming: bool) -> None:
        pass

    def unregisterProducer(self) -> None:
        pass


class Tuned(pcp.ProducerConsumerProxy):
    """A subclass with its own defaults, as Twisted's users write them."""

    bufferSize = 1024
    iAmStreaming = False

    def __init__(self, consumer: Sink) -> None:
        self.lowWater = 100
        super().__init__(consumer)
        self.note = "mine"


class Partial(pcp.ProducerConsumerProxy):
    """A consumer that takes at most four bytes per write."""

    def _writeSomeData(self, data: bytes) -> int:
        sink = self.consumer
        assert isinstance(sink, Sink)
        sink.write(data[:4])
        return min(len(data), 4)


sink = Sink()
proxy = pcp.ProducerConsumerProxy(sink)
proxy.bufferSize = 256 * 1024
proxy.lowWater = 64 * 1024
proxy.maxBufferSize = None
proxy.pauseProducing()
proxy.write(b"bytes")
proxy.write(bytearray(b" and a bytearray"))
proxy.write(memoryview(b" and a view"))
proxy.resumeProducing()
received: int = proxy.bytesReceived
sent: int = proxy.bytesSent
buffered: int = proxy.bufferedBytes
peak: int = proxy.peakBufferedBytes
pauses: int = proxy.producerPauses
discarded: int = proxy.bytesDiscarded
high: int = proxy.bufferSize
low: int = proxy.lowWater
cap: int | None = proxy.maxBufferSize
paused: bool = proxy.paused
assert received == sent + buffered == len(sink.data)

tuned = Tuned(Sink())
assert (tuned.bufferSize, tuned.lowWater, tuned.iAmStreaming, tuned.note) == (1024, 100, False, "mine")
assert Tuned.bufferSize == 1024

basic = pcp.BasicProducerConsumerProxy(None)
basic.registerProducer(object(), True)
basic.unregisterProducer()
basic.finish()

partial = Partial(Sink())
partial.write(b"1234567890")  # 4 pass through, 4 more at once, 2 wait
assert partial.bufferedBytes == 2

try:
    capped = pcp.ProducerConsumerProxy(None)
    capped.maxBufferSize = capped.bufferSize
    capped.write(b"x" * (capped.bufferSize + 1))
except pcp.BufferFull as error:
    message: str = str(error)
