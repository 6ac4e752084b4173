# cython: annotation_typing=False
"""The proxies' behaviour, written once: flow control and the producer/consumer protocol.

This file is the pure-Python implementation as it stands, and the source of
the compiled one: ``setup.py`` compiles it a second time, as ``pcp._core_c``,
in Cython's pure-Python mode, with the types declared in ``pcp/_core_c.pxd``.
The public classes (``pcp._proxy``) add class-level defaults on top.

Reading order: the protocol (register, pause, resume, stop, finish, the pull
loop) comes first, then the write path and the flush loop. The bytes
themselves are held by a ``ByteQueue`` (``pcp._queue``, or its twin
``pcp._queue_py``).
"""

from __future__ import annotations

import sys
from operator import index as _index
from typing import TYPE_CHECKING, Any, Callable, NoReturn, Optional, SupportsIndex

from pcp._errors import BufferFull
from pcp._queue_py import ByteQueue as _TwinQueue

if TYPE_CHECKING:
    from typing_extensions import Buffer

    from pcp import _cython_shim as cython
else:
    try:
        import cython
    except ImportError:  # no Cython at run time: this module is the pure-Python implementation
        from pcp import _cython_shim as cython

__all__ = ["BasicCore", "BufferedCore"]

_NO_MARK = sys.maxsize
BUFFER_SIZE = 65536  # ProducerConsumerProxy's high-water mark unless set (Twisted's bufferSize)


def _new_queue() -> Any:
    if cython.compiled:
        return ByteQueue()  # type: ignore[name-defined] # noqa: F821 - cimported in _core_c.pxd
    return _TwinQueue()


def _mark(value: Any, name: str) -> int:
    n = int(_index(value))  # an int, not a bool, on 3.9 too
    if n < 0:
        raise ValueError(f"{name} must be >= 0, got {n}")
    if n > _NO_MARK:
        raise OverflowError(f"{name} must be at most {_NO_MARK}, got {n}")
    return n


class BasicCore:
    """The behaviour of ``pcp.BasicProducerConsumerProxy`` (whose docstring says what it is)."""

    def __cinit__(self, *args: Any, **kwargs: Any) -> None:
        if type(self) is BasicCore or type(self) is BufferedCore:
            raise TypeError(f"{type(self).__name__} is a base class: use "
                            "pcp.BasicProducerConsumerProxy or pcp.ProducerConsumerProxy")
        self._consumer: Any = None
        self._consumerWrite: Optional[Callable[[bytes], object]] = None
        self._producer: Any = None
        self._producerIsStreaming: Optional[bool] = None
        self._iAmStreaming = True
        self._paused = False
        self._stopped = False
        self._outstandingPull = False
        self._producerPaused = False
        self._unregistered = False
        self._high = BUFFER_SIZE if isinstance(self, BufferedCore) else _NO_MARK
        self._low = -1
        self._max = -1
        self._peak = 0
        self._pauses = 0
        self._sent = 0
        self._discarded = 0
        self._queue = _new_queue()
        self._sending = False
        self._pulling = False
        self._unregisterPending = False
        self._finishPending = False
        self._writeHook: Optional[Callable[[Any, bytes], object]] = None
        if isinstance(self, BufferedCore):
            hook = type(self)._writeSomeData
            if hook is not BufferedCore._writeSomeData:
                self._writeHook = hook
        # Defaults that subclasses of the public classes give as class
        # attributes (pcp._proxy), in the order they must be set.
        defaults = getattr(type(self), "_classDefaults", None)
        if defaults:
            for name in defaults:
                setattr(self, name, getattr(type(self), name))

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer
        if consumer is not None:
            consumer.registerProducer(self, self._iAmStreaming)

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        raise TypeError(f"cannot copy or pickle {type(self).__name__!r} objects")

    def __repr__(self) -> str:
        cls = type(self)
        return f"<{cls.__module__}.{cls.__qualname__}@{id(self):x} around {self._consumer!r}>"

    # -- the protocol: as a producer, to my consumer --------------------------------

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

    @consumer.deleter
    def consumer(self) -> None:
        raise AttributeError("cannot delete attribute 'consumer'")

    @property
    def producer(self) -> Any:
        """The producer I subscribe to (None when none is registered)."""
        return self._producer

    @producer.setter
    def producer(self, value: Any) -> None:
        self._producer = value

    @producer.deleter
    def producer(self) -> None:
        raise AttributeError("cannot delete attribute 'producer'")

    @property
    def producerIsStreaming(self) -> Optional[bool]:
        """True for a push producer, False for a pull producer, None when none is registered."""
        return self._producerIsStreaming

    @producerIsStreaming.setter
    def producerIsStreaming(self, value: Optional[bool]) -> None:
        self._producerIsStreaming = value

    @producerIsStreaming.deleter
    def producerIsStreaming(self) -> None:
        raise AttributeError("cannot delete attribute 'producerIsStreaming'")

    @property
    def iAmStreaming(self) -> bool:
        """True (the default) makes me a push producer to my consumer; False a pull proxy."""
        return self._iAmStreaming

    @iAmStreaming.setter
    def iAmStreaming(self, value: bool) -> None:
        self._iAmStreaming = bool(value)

    @iAmStreaming.deleter
    def iAmStreaming(self) -> None:
        raise AttributeError("cannot delete attribute 'iAmStreaming'")

    @property
    def paused(self) -> bool:
        """As a producer, am I paused?"""
        return self._paused

    @paused.setter
    def paused(self, value: bool) -> None:
        self._paused = bool(value)

    @paused.deleter
    def paused(self) -> None:
        raise AttributeError("cannot delete attribute 'paused'")

    @property
    def stopped(self) -> bool:
        """Was I stopped (stopProducing)? Later writes reach nobody."""
        return self._stopped

    @stopped.setter
    def stopped(self, value: bool) -> None:
        self._stopped = bool(value)

    @stopped.deleter
    def stopped(self) -> None:
        raise AttributeError("cannot delete attribute 'stopped'")

    @property
    def outstandingPull(self) -> bool:
        """A pull proxy's consumer asked for data that has not come yet."""
        return self._outstandingPull

    @outstandingPull.setter
    def outstandingPull(self, value: bool) -> None:
        self._outstandingPull = bool(value)

    @outstandingPull.deleter
    def outstandingPull(self) -> None:
        raise AttributeError("cannot delete attribute 'outstandingPull'")

    @property
    def producerPaused(self) -> bool:
        """Is my streaming producer paused at the high-water mark?"""
        return self._producerPaused

    @producerPaused.setter
    def producerPaused(self, value: bool) -> None:
        self._producerPaused = bool(value)

    @producerPaused.deleter
    def producerPaused(self) -> None:
        raise AttributeError("cannot delete attribute 'producerPaused'")

    @property
    def unregistered(self) -> bool:
        """Was my producer unregistered?"""
        return self._unregistered

    @unregistered.setter
    def unregistered(self, value: bool) -> None:
        self._unregistered = bool(value)

    @unregistered.deleter
    def unregistered(self) -> None:
        raise AttributeError("cannot delete attribute 'unregistered'")

    def pauseProducing(self) -> None:
        """Stop passing data on; buffer it. A streaming producer is paused too."""
        self._paused = True
        if self._producer is not None and self._producerIsStreaming:
            self._producer.pauseProducing()

    def resumeProducing(self) -> None:
        """Send everything buffered as one write, then resume or pull my producer."""
        self._paused = False
        sent = self._drain()
        if not self._queue.size:
            self._tellConsumerIfDrained()
        if not sent and not self._iAmStreaming:
            self._outstandingPull = True
        producer = self._producer
        if producer is None or self._stopped:
            return
        if self._producerIsStreaming:
            # Relayed: this resumes a producer paused at a mark too, and the
            # mark pauses it again if the buffer is still full.
            self._producerPaused = False
            producer.resumeProducing()
            self._checkMarks()
        else:
            self._pull()

    def stopProducing(self) -> None:
        """Stop producing data: relayed to my producer; my consumer is detached.

        This tells a producer that its consumer has died. Later writes reach
        nobody (counted in ``bytesDiscarded``); what was buffered stays
        counted in ``bufferedBytes``.
        """
        try:
            if self._producer is not None:
                self._producer.stopProducing()
        finally:
            self._stopped = True
            self.consumer = None

    # -- the protocol: as a consumer, of my producer --------------------------------

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """Register to receive data from a producer.

        *streaming* is True for an IPushProducer, False for an IPullProducer,
        which I pull at once and whenever I want data. Raises RuntimeError if
        a producer is already registered.
        """
        if self._producer is not None:
            raise RuntimeError(
                f"Cannot register producer {producer!r}, because producer "
                f"{self._producer!r} was never unregistered."
            )
        self._producer = producer
        self._producerIsStreaming = streaming
        self._producerPaused = False
        self._unregistered = False
        self._unregisterPending = False
        if streaming:
            self._checkMarks()
        elif self._iAmStreaming:
            self._pull()
        elif not self._stopped:
            # As Twisted does: one pull at once, to have data for the first request.
            producer.resumeProducing()

    def unregisterProducer(self) -> None:
        """Stop consuming data from a producer, without disconnecting.

        My consumer is told (its unregisterProducer) once my buffer has drained.
        """
        self._producer = None
        self._producerIsStreaming = None
        self._producerPaused = False
        self._unregistered = True
        self._unregisterPending = True
        self._tellConsumerIfDrained()

    def finish(self) -> None:
        """Finish my consumer, where it has a finish(), and unregister.

        Both reach the consumer only after what is buffered has gone out.
        """
        self._finishPending = True
        self.unregisterProducer()

    def _wantsData(self) -> bool:
        return (
            self._producer is not None
            and not self._producerIsStreaming
            and not self._paused
            and not self._stopped
            and self._queue.size < self._high
        )

    def _pull(self) -> None:
        """Ask a pull producer for data.

        A pull proxy asks once, on behalf of its consumer, and only when its
        buffer is empty, so a consumer that takes part of each write cannot
        make the buffer grow. A streaming proxy keeps asking while it wants
        data and each pull brought some; a loop, not recursion, and re-entrant
        calls leave the asking to the outer loop.
        """
        if not self._iAmStreaming:
            if not self._queue.size and not self._stopped:
                self._producer.resumeProducing()
            return
        if self._pulling:
            return
        self._pulling = True
        try:
            while self._wantsData():
                before = self._sent + self._queue.size
                self._producer.resumeProducing()
                if self._sent + self._queue.size == before:
                    break
        finally:
            self._pulling = False

    def _tellConsumerIfDrained(self) -> None:
        if self._queue.size or self._consumer is None:
            return
        if self._finishPending:
            self._finishPending = False
            finish = getattr(self._consumer, "finish", None)
            if finish is not None:
                finish()
        if self._unregisterPending and self._consumer is not None:
            self._unregisterPending = False
            self._consumer.unregisterProducer()

    # -- counters -------------------------------------------------------------------

    @property
    def bufferedBytes(self) -> int:
        """Bytes accepted and not yet taken by the consumer."""
        size: int = self._queue.size
        return size

    @property
    def peakBufferedBytes(self) -> int:
        """The most bytes ever buffered at once."""
        return self._peak

    @property
    def producerPauses(self) -> int:
        """How many times the upstream producer was paused at the high-water mark."""
        return self._pauses

    @property
    def bytesReceived(self) -> int:
        """Bytes accepted from the producer: those sent plus those buffered."""
        received: int = self._sent + self._queue.size
        return received

    @property
    def bytesSent(self) -> int:
        """Bytes the consumer took."""
        return self._sent

    @property
    def bytesDiscarded(self) -> int:
        """Bytes written after stopProducing, which reach nobody."""
        return self._discarded

    # -- the marks ------------------------------------------------------------------

    @property
    def bufferSize(self) -> int:
        """High-water mark: a streaming producer is paused once this many bytes are buffered."""
        return self._high

    @bufferSize.setter
    def bufferSize(self, value: int) -> None:
        n = _mark(value, "bufferSize")
        if self._low > n:
            raise ValueError(f"bufferSize {n} is below lowWater {self._low}")
        if self._max >= 0 and n > self._max:
            raise ValueError(f"bufferSize {n} is above maxBufferSize {self._max}")
        self._high = n
        self._checkMarks()

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
            n = _mark(value, "lowWater")
            if n > self._high:
                raise ValueError(f"lowWater {n} is above bufferSize {self._high}")
            self._low = n
        self._checkMarks()

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
        n = _mark(value, "maxBufferSize")
        if n < self._high and self._high != _NO_MARK:
            raise ValueError(f"maxBufferSize {n} is below bufferSize {self._high}")
        self._max = n

    # -- watermarks -----------------------------------------------------------------

    def _checkHigh(self) -> None:
        if (self._queue.size >= self._high and self._queue.size and not self._producerPaused
                and self._producer is not None and self._producerIsStreaming):
            self._producerPaused = True
            self._pauses += 1
            self._producer.pauseProducing()

    def _checkLow(self) -> bool:
        low = self._low if self._low >= 0 else self._high // 4
        if self._producerPaused and self._queue.size <= low:
            self._producerPaused = False
            if self._producer is not None:
                self._producer.resumeProducing()
                return True
        return False

    def _checkMarks(self) -> None:
        self._checkHigh()
        self._checkLow()

    # -- the write path -------------------------------------------------------------

    def write(self, data: Buffer, /) -> None:
        """Accept *data* (any C-contiguous bytes-like object) from the producer.

        Passed straight to the consumer when nothing is buffered and the
        consumer wants data; buffered otherwise (small writes copied,
        large ``bytes`` kept by reference). Non-buffers raise TypeError and
        nothing is lost.
        """
        if self._stopped:
            self._discarded += self._queue.measure(data)
            return
        if self._queue.size and self._wantsWrites():
            # Leftovers of a partial write or a failed flush go first. If the
            # consumer raises here, nothing of this write has been accepted.
            if self._drain() and not self._iAmStreaming:
                self._outstandingPull = False
        if (self._paused or self._queue.size or self._sending or self._consumer is None
                or (not self._iAmStreaming and not self._outstandingPull)):
            self._buffer(data)
        else:
            self._passThrough(data)

    def _wantsWrites(self) -> bool:
        return (not self._paused and not self._sending and self._consumer is not None
                and (self._iAmStreaming or self._outstandingPull))

    def _buffer(self, data: Any) -> None:
        """Cap-check and append *data*; nothing is appended on error."""
        queue = self._queue
        if self._max >= 0:
            self._checkCap(queue.measure(data))
        queue.append(data)
        if queue.size > self._peak:
            self._peak = queue.size
        if queue.size >= self._high:
            self._checkHigh()
        if self._producerPaused:
            self._checkLow()

    def _checkCap(self, n: int) -> None:
        if self._max >= 0 and n and n > self._max - self._queue.size:
            raise BufferFull(
                f"writing {n} bytes to a buffer holding {self._queue.size} "
                f"would exceed maxBufferSize {self._max}"
            )

    def _passThrough(self, data: Any) -> None:
        """Hand *data* to the consumer now; buffer what it did not take."""
        payload = data if type(data) is bytes else self._queue.as_bytes(data)
        n = len(payload)
        if n == 0:
            return
        if self._max >= 0:
            self._checkCap(n)
        if self._writeHook is not None:
            # The rest of a partial write must find room without allocating.
            self._queue.reserve_front()
        self._sending = True
        try:
            if self._writeHook is None and self._consumerWrite is not None:
                self._consumerWrite(payload)  # the common case: the consumer takes it all
                sent = n
            else:
                sent = self._send(payload)
        finally:
            self._sending = False
        self._outstandingPull = False
        self._sent += sent
        if sent < n:
            self._queue.push_front(payload, sent)
        if self._queue.size:
            # The rest of a partial write, or writes made while it was sent.
            if self._queue.size > self._peak:
                self._peak = self._queue.size
            self._checkHigh()
            if self._wantsWrites():
                self._drain()
        if self._producerPaused:
            self._checkLow()

    def _send(self, data: bytes) -> int:
        """Give *data* to the consumer; return how many bytes it took."""
        hook = self._writeHook
        if hook is None:
            write = self._consumerWrite
            if write is None:
                raise AttributeError(f"consumer {self._consumer!r} has no write method")
            write(data)
            return len(data)
        return _checkSent(hook(self, data), len(data))

    # -- the flush loop -------------------------------------------------------------

    def _drain(self) -> int:
        """Send what is buffered while the consumer takes it; return bytes sent."""
        total = 0
        if self._sending:
            # A consumer calling back in: the outer loop goes on after it returns.
            return 0
        queue = self._queue
        while (queue.size and not self._paused and not self._stopped and self._consumer is not None
               and (self._iAmStreaming or total == 0)):
            data = queue.peek()
            self._sending = True
            try:
                sent = self._send(data)
            finally:
                self._sending = False
            queue.consume(sent)
            self._sent += sent
            total += sent
            if sent < len(data):
                break  # a partial write (or none): the rest waits for the next resume
        return total

    def _flush(self) -> int:
        """Send what is buffered (one write per pass); return the bytes sent."""
        return self._drain()


class BufferedCore(BasicCore):
    """The behaviour of ``pcp.ProducerConsumerProxy`` (whose docstring says what it is)."""

    def pauseProducing(self) -> None:
        """Buffer what is written to me; my producer is paused by the buffer, not by this."""
        self._paused = True

    def resumeProducing(self) -> None:
        """Send what is buffered, then resume or pull my producer as the buffer allows."""
        self._paused = False
        sent = self._drain()
        if not self._iAmStreaming:
            # A pull is answered only if something went out.
            self._outstandingPull = sent == 0
        drained = not self._queue.size
        if drained and (self._finishPending or self._unregisterPending):
            self._tellConsumerIfDrained()
        producer = self._producer
        if producer is None or self._stopped:
            return
        if self._producerIsStreaming:
            if self._producerPaused:
                # Paused at the high mark: resumed at the low mark, not before.
                self._checkLow()
            elif self._outstandingPull:
                # Nothing went out for this pull: ask for more.
                producer.resumeProducing()
        elif self._iAmStreaming:
            self._pull()
        elif drained and not self._queue.size:
            # A pull proxy pulls only with an empty buffer. (Read again:
            # telling the consumer we are done may have led to a write.)
            producer.resumeProducing()

    def _writeSomeData(self, data: bytes) -> int:
        """Write as much of *data* as possible to the consumer; return the bytes written.

        Override to model a consumer that takes only part of a write: the
        rest stays buffered, in order, and goes out on a later flush.
        """
        if self._consumer is None:
            return 0
        self._consumer.write(data)
        return len(data)


def _checkSent(result: Any, n: int) -> int:
    """The bytes a ``_writeSomeData`` reported for *n* offered, checked.

    The consumer has the data already: nothing here allocates unless the
    result is wrong (compiled, ``sent`` is a C integer).
    """
    try:
        sent = int(_index(result))
    except TypeError:
        raise TypeError(f"_writeSomeData must return an int, not {type(result).__name__!r}") from None
    except OverflowError:
        sent = -1  # beyond a C integer: out of range all the same
    if sent < 0 or sent > n:
        raise ValueError(f"_writeSomeData returned {int(_index(result))} for {n} bytes")
    return sent


if not cython.compiled:

    def _twin_new(cls: type, *args: Any, **kwargs: Any) -> Any:
        self: Any = object.__new__(cls)
        self.__cinit__()
        return self

    BasicCore.__new__ = staticmethod(_twin_new)  # type: ignore[method-assign]
