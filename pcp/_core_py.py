"""ProxyCore: the pure-Python twin of ``pcp._core``.

Same behaviour, messages and exception types as the compiled core; the
buffer is a deque of bytes chunks (non-bytes input is copied into a new bytes
object) with the offset already sent from the oldest one.
"""

from __future__ import annotations

import sys
from collections import deque
from operator import index as _index
from typing import Any, Deque, Optional

from pcp._buffer_py import to_bytes as _to_bytes
from pcp._errors import BufferFull

__all__ = ["ProxyCore"]

_NO_MARK = sys.maxsize


def _mark_arg(value: Any, name: str) -> int:
    n = _index(value)
    if n > sys.maxsize:
        raise OverflowError("Python int too large to convert to C ssize_t")
    if n < 0:
        raise ValueError(f"{name} must be >= 0, got {n}")
    return n


class ProxyCore:
    """Buffer, write path, flush loop and watermarks of a producer/consumer proxy.

    Not used directly: ``pcp.BasicProducerConsumerProxy`` and
    ``pcp.ProducerConsumerProxy`` add the producer/consumer protocol on top.
    """

    __slots__ = (
        "_consumer",
        "_consumerWrite",
        "producer",
        "producerIsStreaming",
        "iAmStreaming",
        "paused",
        "stopped",
        "outstandingPull",
        "producerPaused",
        "unregistered",
        "_writeHook",
        "_bufferedBytes",
        "_peakBufferedBytes",
        "_producerPauses",
        "_bytesReceived",
        "_bytesSent",
        "_bytesDiscarded",
        "_chunks",
        "_offset",
        "_high",
        "_low",
        "_max",
        "_sending",
    )

    def __new__(cls, *args: Any, **kwargs: Any) -> "ProxyCore":
        if cls is ProxyCore:
            raise TypeError("ProxyCore is a base class: use pcp.BasicProducerConsumerProxy "
                            "or pcp.ProducerConsumerProxy")
        self = super().__new__(cls)
        self._consumer = None
        self._consumerWrite = None
        self.producer = None
        self.producerIsStreaming = None
        self.iAmStreaming = True
        self.paused = False
        self.stopped = False
        self.outstandingPull = False
        self.producerPaused = False
        self.unregistered = False
        self._writeHook = None
        self._bufferedBytes = 0
        self._peakBufferedBytes = 0
        self._producerPauses = 0
        self._bytesReceived = 0
        self._bytesSent = 0
        self._bytesDiscarded = 0
        self._chunks: Deque[bytes] = deque()
        self._offset = 0
        self._high = _NO_MARK
        self._low = -1
        self._max = -1
        self._sending = False
        return self

    @property
    def consumer(self) -> Any:
        """The consumer I publish to (None once stopped).

        Its ``write`` is looked up when it is set: assign the consumer again
        after replacing its write method.
        """
        return self._consumer

    @consumer.setter
    def consumer(self, value: Any) -> None:
        self._consumerWrite = getattr(value, "write", None) if value is not None else None
        self._consumer = value

    # -- counters -----------------------------------------------------------------

    @property
    def bufferedBytes(self) -> int:
        """Bytes accepted and not yet taken by the consumer."""
        return self._bufferedBytes

    @property
    def peakBufferedBytes(self) -> int:
        """The most bytes ever buffered at once."""
        return self._peakBufferedBytes

    @property
    def producerPauses(self) -> int:
        """How many times the upstream producer was paused at the high-water mark."""
        return self._producerPauses

    @property
    def bytesReceived(self) -> int:
        """Bytes accepted from the producer (passed through or buffered)."""
        return self._bytesReceived

    @property
    def bytesSent(self) -> int:
        """Bytes the consumer took."""
        return self._bytesSent

    @property
    def bytesDiscarded(self) -> int:
        """Bytes written after stopProducing, which reach nobody."""
        return self._bytesDiscarded

    # -- the marks ------------------------------------------------------------

    @property
    def bufferSize(self) -> int:
        """High-water mark: a streaming producer is paused once this many bytes are buffered."""
        return self._high

    @bufferSize.setter
    def bufferSize(self, value: int) -> None:
        n = _mark_arg(value, "bufferSize")
        if self._low > n:
            raise ValueError(f"bufferSize {n} is below lowWater {self._low}")
        if self._max >= 0 and n > self._max:
            raise ValueError(f"bufferSize {n} is above maxBufferSize {self._max}")
        self._high = n
        self._check_marks()

    @property
    def lowWater(self) -> int:
        """Low-water mark: a producer paused at bufferSize resumes once the buffer falls to this.

        Defaults to bufferSize // 4 (following bufferSize); set None to restore that.
        """
        return self._low if self._low >= 0 else self._high // 4

    @lowWater.setter
    def lowWater(self, value: Optional[int]) -> None:
        if value is None:
            self._low = -1
        else:
            n = _mark_arg(value, "lowWater")
            if n > self._high:
                raise ValueError(f"lowWater {n} is above bufferSize {self._high}")
            self._low = n
        self._check_marks()

    @property
    def maxBufferSize(self) -> Optional[int]:
        """Hard cap on buffered bytes, or None (the default) for no cap.

        A write that would take the buffer past it raises pcp.BufferFull and
        buffers nothing of that write.
        """
        return self._max if self._max >= 0 else None

    @maxBufferSize.setter
    def maxBufferSize(self, value: Optional[int]) -> None:
        if value is None:
            self._max = -1
            return
        n = _mark_arg(value, "maxBufferSize")
        if n < self._high and self._high != _NO_MARK:
            raise ValueError(f"maxBufferSize {n} is below bufferSize {self._high}")
        self._max = n

    # -- watermarks -------------------------------------------------------------

    def _check_high(self) -> None:
        if (
            self._bufferedBytes >= self._high
            and self._bufferedBytes
            and not self.producerPaused
            and self.producer is not None
            and self.producerIsStreaming
        ):
            self.producerPaused = True
            self._producerPauses += 1
            self.producer.pauseProducing()

    def _check_low(self) -> bool:
        low = self._low if self._low >= 0 else self._high // 4
        if self.producerPaused and self._bufferedBytes <= low:
            self.producerPaused = False
            if self.producer is not None:
                self.producer.resumeProducing()
                return True
        return False

    def _check_marks(self) -> None:
        # The guards repeat each check's first condition: most writes cross
        # no mark, and a call costs more than the test.
        if self._bufferedBytes >= self._high:
            self._check_high()
        if self.producerPaused:
            self._check_low()

    def _checkWatermarks(self) -> None:
        """Pause the producer if at the high mark, resume it if paused and at the low mark."""
        self._check_marks()

    def _resumeUpstreamIfDrained(self) -> bool:
        """Resume a producer paused at the high mark once at or below the low mark.

        Returns True when it called the producer's resumeProducing.
        """
        return self._check_low()

    # -- the buffer -------------------------------------------------------------

    def _check_cap(self, n: int) -> None:
        if self._max >= 0 and n and n > self._max - self._bufferedBytes:
            raise BufferFull(
                f"writing {n} bytes to a buffer holding {self._bufferedBytes} "
                f"would exceed maxBufferSize {self._max}"
            )

    def _append_bytes(self, data: bytes) -> None:
        self._chunks.append(data)
        self._bufferedBytes += len(data)
        if self._bufferedBytes > self._peakBufferedBytes:
            self._peakBufferedBytes = self._bufferedBytes

    def _buffer(self, data: Any) -> None:
        """Type-check, cap-check and append *data*; nothing is appended on error."""
        payload = data if type(data) is bytes else _to_bytes(data)
        if self._max >= 0:
            self._check_cap(len(payload))
        if payload:
            self._append_bytes(payload)
            self._bytesReceived += len(payload)

    def _peek_all(self) -> bytes:
        """Everything buffered, oldest first, as one bytes object (not removed)."""
        if len(self._chunks) == 1 and not self._offset:
            return self._chunks[0]
        out = b"".join(self._chunks)
        return out[self._offset :] if self._offset else out

    def _consume(self, n: int) -> None:
        """Drop the oldest *n* bytes (0 <= n <= bufferedBytes)."""
        self._bufferedBytes -= n
        n += self._offset
        chunks = self._chunks
        while chunks and n >= len(chunks[0]):
            n -= len(chunks.popleft())
        self._offset = n

    def _clear(self) -> None:
        self._chunks.clear()
        self._offset = 0
        self._bufferedBytes = 0

    def _prepend_rest(self, data: bytes, sent: int) -> None:
        """Buffer data[sent:] ahead of anything written meanwhile."""
        later = self._peek_all() if self._bufferedBytes else None
        self._clear()
        self._append_bytes(data[sent:] if sent else data)
        if later is not None:
            self._append_bytes(later)

    # -- sending ------------------------------------------------------------------

    def _send(self, data: bytes) -> int:
        n = len(data)
        if self._writeHook is None:
            if self._consumerWrite is None:
                raise AttributeError(f"consumer {self._consumer!r} has no write method")
            self._consumerWrite(data)
            return n
        result = self._writeHook(self, data)
        try:
            sent = _index(result)
        except TypeError:
            raise TypeError(
                f"_writeSomeData must return an int, not {type(result).__name__!r}"
            ) from None
        if sent < 0 or sent > n:
            raise ValueError(f"_writeSomeData returned {sent} for {n} bytes")
        return sent

    def _wants_data(self) -> bool:
        return (
            not self.paused
            and not self._sending
            and self._consumer is not None
            and (self.iAmStreaming or self.outstandingPull)
        )

    def _drain(self) -> int:
        """Send what is buffered while the consumer takes it; return bytes sent."""
        total = 0
        if self._sending:
            # A consumer calling back in: the outer loop goes on after it returns.
            return 0
        while (
            self._bufferedBytes
            and not self.paused
            and not self.stopped
            and self._consumer is not None
            and (self.iAmStreaming or total == 0)
        ):
            data = self._peek_all()
            self._sending = True
            try:
                sent = self._send(data)
            finally:
                self._sending = False
            self._consume(sent)
            self._bytesSent += sent
            total += sent
            if sent < len(data):
                break
        return total

    def _flush(self) -> int:
        """Send what is buffered (one write per pass); return the bytes sent."""
        return self._drain()

    def _resumeFlush(self) -> bool:
        """Clear paused and send what is buffered; return True when nothing is left buffered.

        A pull proxy's pull is answered only if something went out:
        outstandingPull becomes whether nothing did. One call, because the
        protocol layer's resumeProducing runs once per pull.
        """
        self.paused = False
        sent = self._drain()
        if not self.iAmStreaming:
            self.outstandingPull = sent == 0
        return self._bufferedBytes == 0

    def write(self, data: Any, /) -> None:
        """Accept *data* (any C-contiguous bytes-like object) from the producer.

        Passed straight to the consumer when nothing is buffered and the
        consumer wants data; buffered (copied, or referenced if immutable)
        otherwise. Non-buffers raise TypeError and nothing is lost.
        """
        if self.stopped:
            self._bytesDiscarded += len(_to_bytes(data))
            return
        if self._bufferedBytes and not self.paused and self._wants_data():
            # Leftovers of a partial write or a failed flush go first. If the
            # consumer raises here, nothing of this write has been accepted.
            if self._drain() and not self.iAmStreaming:
                self.outstandingPull = False
        if (
            self.paused
            or self._bufferedBytes
            or self._sending
            or self._consumer is None
            or (not self.iAmStreaming and not self.outstandingPull)
        ):
            self._buffer(data)
            self._check_marks()
            return
        payload = data if type(data) is bytes else _to_bytes(data)
        n = len(payload)
        if n == 0:
            return
        if self._max >= 0:
            self._check_cap(n)
        self._sending = True
        try:
            sent = self._send(payload)
        finally:
            self._sending = False
        self.outstandingPull = False
        self._bytesReceived += n
        self._bytesSent += sent
        if sent < n:
            self._prepend_rest(payload, sent)
        if self._bufferedBytes:
            # The rest of a partial write, or writes made while it was sent.
            self._check_high()
            if self._wants_data():
                self._drain()
        if self.producerPaused:
            self._check_low()
