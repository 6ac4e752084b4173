"""ReferenceProxy: the straightforward pure-Python proxy pcp's benchmarks measure against.

What one would write by hand, correct on bytes: a list of chunks and a running
byte count, ``b"".join`` on flush. It keeps the parts of the protocol the
benchmark workloads use (pause/resume, a streaming or pull producer, the
high/low watermarks, ``_writeSomeData`` for partial writes) and nothing else.
It is a yardstick, not a product: ``pcp.bench`` and ``benchmarks/`` use it,
and the release gate asks pcp to beat it.
"""

from __future__ import annotations

from typing import Any, List, Optional

__all__ = ["ReferenceProxy"]


class ReferenceProxy:
    """A producer/consumer proxy in plain Python: list of chunks, byte count, join on flush.

    ``bufferSize`` is the high-water mark at which a streaming producer is
    paused, ``lowWater`` (default ``bufferSize // 4``) the mark at which it is
    resumed. Subclass with ``iAmStreaming = False`` for a pull proxy, and
    override ``_writeSomeData`` to model a consumer taking part of a write.
    """

    iAmStreaming = True
    bufferSize = 65536
    lowWater: Optional[int] = None

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer
        self.producer: Any = None
        self.producerIsStreaming: Optional[bool] = None
        self.paused = False
        self.outstandingPull = False
        self.producerPaused = False
        self._chunks: List[bytes] = []
        self._size = 0
        if consumer is not None:
            consumer.registerProducer(self, self.iAmStreaming)

    # -- as a consumer, of my producer -----------------------------------------

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """Take data from *producer*; a pull producer is pulled at once."""
        self.producer = producer
        self.producerIsStreaming = streaming
        self.producerPaused = False
        if not streaming:
            producer.resumeProducing()

    def unregisterProducer(self) -> None:
        """Forget my producer."""
        self.producer = None
        self.producerIsStreaming = None

    def write(self, data: Any) -> None:
        """Pass *data* on, or buffer it while paused (or while older data waits)."""
        if type(data) is not bytes:
            data = memoryview(data).tobytes()
        if self.paused or self._chunks or (not self.iAmStreaming and not self.outstandingPull):
            self._chunks.append(data)
            self._size += len(data)
            if (
                self._size >= self.bufferSize
                and not self.producerPaused
                and self.producerIsStreaming
                and self.producer is not None
            ):
                self.producerPaused = True
                self.producer.pauseProducing()
            return
        self.outstandingPull = False
        sent = self._writeSomeData(data)
        if sent < len(data):
            self._chunks.append(data[sent:])
            self._size += len(data) - sent

    # -- as a producer, to my consumer -----------------------------------------

    def pauseProducing(self) -> None:
        """Buffer what is written to me until resumed."""
        self.paused = True

    def resumeProducing(self) -> None:
        """Flush the buffer in one write, then resume or pull my producer as needed."""
        self.paused = False
        sent = self._flush()
        if not self.iAmStreaming:
            self.outstandingPull = not sent
        producer = self.producer
        if producer is None:
            return
        if self.producerPaused:
            low = self.bufferSize // 4 if self.lowWater is None else self.lowWater
            if self._size <= low:
                self.producerPaused = False
                producer.resumeProducing()
        elif self.outstandingPull:
            producer.resumeProducing()

    def stopProducing(self) -> None:
        """Stop my producer and drop my consumer."""
        if self.producer is not None:
            self.producer.stopProducing()
        self.consumer = None

    def _flush(self) -> int:
        if not self._chunks:
            return 0
        data = b"".join(self._chunks)
        sent = self._writeSomeData(data)
        if sent < len(data):
            self._chunks = [data[sent:]]
            self._size = len(data) - sent
        else:
            self._chunks = []
            self._size = 0
        return sent

    def _writeSomeData(self, data: bytes) -> int:
        """Write *data* to my consumer; return how many bytes it took."""
        if self.consumer is None:
            return 0
        self.consumer.write(data)
        return len(data)
