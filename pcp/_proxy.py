"""The producer/consumer protocol layer of pcp's proxies.

This is where flow control reads as prose: who is registered, who is paused,
when a producer is pulled, when the consumer is told we are done. The bytes
themselves (``write``, the buffer, the flush loop, the watermark checks) are
the core's work: ``pcp._core.ProxyCore`` or its twin ``pcp._core_py.ProxyCore``.
``proxy_classes(core)`` puts the two together.
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

from pcp._interfaces import declare_interfaces

__all__ = ["BasicProtocol", "BufferedProtocol", "proxy_classes"]

_MISSING = object()

# State the core keeps in C fields. A subclass that overrides one of them with
# a plain class attribute (``iAmStreaming = False``, ``bufferSize = 1024``) would
# hide the core's field, so such overrides are moved into per-class defaults
# that __init__ assigns. Marks come first: later ones are checked against them.
_CORE_STATE = (
    "bufferSize",
    "lowWater",
    "maxBufferSize",
    "iAmStreaming",
    "paused",
    "stopped",
    "outstandingPull",
    "producerPaused",
    "unregistered",
    "producer",
    "consumer",
    "producerIsStreaming",
)


class BasicProtocol:
    """I can act as a man in the middle between any Producer and Consumer.

    As a consumer I accept ``write`` from the producer registered with me; as a
    producer I pass data on to my consumer, buffering it while I am paused.
    Pause and resume are relayed to a streaming producer; a pull producer is
    pulled while I want data.

    Attributes, as in Twisted: ``producer``, ``consumer``, ``paused``,
    ``stopped``, ``iAmStreaming`` (class default True; False makes a pull
    proxy), ``outstandingPull``, ``producerIsStreaming``. Counters:
    ``bufferedBytes``, ``peakBufferedBytes``, ``producerPauses``,
    ``bytesReceived``, ``bytesSent``, ``bytesDiscarded``.
    """

    _classDefaults: Dict[str, Any] = {}
    _pulling = False
    _unregisterPending = False
    _finishPending = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = {}
        for name in _CORE_STATE:
            value = cls.__dict__.get(name, _MISSING)
            if value is not _MISSING and not hasattr(value, "__get__"):
                own[name] = value
                delattr(cls, name)
        inherited = getattr(cls, "_classDefaults", {})
        merged = {**inherited, **own}
        cls._classDefaults = {name: merged[name] for name in _CORE_STATE if name in merged}

    def __init__(self, consumer: Any) -> None:
        # Instance attributes, not just the class defaults: CPython caches
        # instance attribute reads, and the pull path reads these.
        self._pulling = self._unregisterPending = self._finishPending = False
        for name, value in self._classDefaults.items():
            setattr(self, name, value)
        if consumer is not None:
            self.consumer = consumer
            consumer.registerProducer(self, self.iAmStreaming)

    # -- as a producer, to my consumer --------------------------------------------

    def pauseProducing(self) -> None:
        """Stop passing data on; buffer it. A streaming producer is paused too."""
        self.paused = True
        if self.producer is not None and self.producerIsStreaming:
            self.producer.pauseProducing()

    def resumeProducing(self) -> None:
        """Send everything buffered as one write, then resume or pull my producer."""
        self.paused = False
        sent = self._flush()
        if not self.bufferedBytes:
            self._tellConsumerIfDrained()
        if not sent and not self.iAmStreaming:
            self.outstandingPull = True
        producer = self.producer
        if producer is None or self.stopped:
            return
        if self.producerIsStreaming:
            # Relayed: this resumes a producer paused at a mark too, and the
            # mark pauses it again if the buffer is still full.
            self.producerPaused = False
            producer.resumeProducing()
            self._checkWatermarks()
        else:
            self._pull()

    def stopProducing(self) -> None:
        """Stop producing data: relayed to my producer; my consumer is detached.

        This tells a producer that its consumer has died. Later writes reach
        nobody (counted in ``bytesDiscarded``); what was buffered stays
        counted in ``bufferedBytes``.
        """
        try:
            if self.producer is not None:
                self.producer.stopProducing()
        finally:
            self.stopped = True
            self.consumer = None

    # -- as a consumer, of my producer --------------------------------------------

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """Register to receive data from a producer.

        *streaming* is True for an IPushProducer, False for an IPullProducer,
        which I pull at once and whenever I want data. Raises RuntimeError if
        a producer is already registered.
        """
        if self.producer is not None:
            raise RuntimeError(
                f"Cannot register producer {producer!r}, because producer "
                f"{self.producer!r} was never unregistered."
            )
        self.producer = producer
        self.producerIsStreaming = streaming
        self.producerPaused = False
        self.unregistered = False
        self._unregisterPending = False
        if streaming:
            self._checkWatermarks()
        elif self.iAmStreaming:
            self._pull()
        elif not self.stopped:
            # As Twisted does: one pull at once, to have data for the first request.
            producer.resumeProducing()

    def unregisterProducer(self) -> None:
        """Stop consuming data from a producer, without disconnecting.

        My consumer is told (its unregisterProducer) once my buffer has drained.
        """
        self.producer = None
        self.producerIsStreaming = None
        self.producerPaused = False
        self.unregistered = True
        self._unregisterPending = True
        self._tellConsumerIfDrained()

    def finish(self) -> None:
        """Finish my consumer, where it has a finish(), and unregister.

        Both reach the consumer only after what is buffered has gone out.
        """
        self._finishPending = True
        self.unregisterProducer()

    def __repr__(self) -> str:
        cls = type(self)
        return f"<{cls.__module__}.{cls.__qualname__}@{id(self):x} around {self.consumer!r}>"

    # -- flow control helpers -------------------------------------------------------

    def _wantsData(self) -> bool:
        return (
            self.producer is not None
            and not self.producerIsStreaming
            and not self.paused
            and not self.stopped
            and self.bufferedBytes < self.bufferSize
        )

    def _pull(self) -> None:
        """Ask a pull producer for data.

        A pull proxy asks once, on behalf of its consumer, and only when its
        buffer is empty, so a consumer that takes part of each write cannot
        make the buffer grow. A streaming proxy keeps asking while
        it wants data and each pull brought some; a loop, not recursion, and
        re-entrant calls leave the asking to the outer loop.
        """
        if not self.iAmStreaming:
            if not self.bufferedBytes and not self.stopped:
                self.producer.resumeProducing()
            return
        if self._pulling:
            return
        self._pulling = True
        try:
            while self._wantsData():
                before = self.bytesReceived
                self.producer.resumeProducing()
                if self.bytesReceived == before:
                    break
        finally:
            self._pulling = False

    def _tellConsumerIfDrained(self) -> None:
        if self.bufferedBytes or self.consumer is None:
            return
        if self._finishPending:
            self._finishPending = False
            finish = getattr(self.consumer, "finish", None)
            if finish is not None:
                finish()
        if self._unregisterPending and self.consumer is not None:
            self._unregisterPending = False
            self.consumer.unregisterProducer()


class BufferedProtocol(BasicProtocol):
    """ProducerConsumerProxy with a finite buffer.

    When my buffer reaches ``bufferSize`` (the high-water mark, 65536 by
    default) I pause my streaming producer, once, and resume it when the
    buffer falls to ``lowWater`` (``bufferSize // 4`` unless set). My own
    pause is not relayed upstream. ``maxBufferSize`` (off by default) is a hard
    cap: a write past it raises ``pcp.BufferFull``. Subclasses may override
    ``_writeSomeData`` to model a consumer that takes only part of a write.
    """

    bufferSize = 65536

    def __init__(self, consumer: Any) -> None:
        # The core calls _writeSomeData only where a subclass overrides it.
        hook = type(self)._writeSomeData
        self._writeHook = None if hook is BufferedProtocol._writeSomeData else hook
        super().__init__(consumer)

    def pauseProducing(self) -> None:
        """Buffer what is written to me; my producer is paused by the buffer, not by this."""
        self.paused = True

    def resumeProducing(self) -> None:
        """Send what is buffered, then resume or pull my producer as the buffer allows."""
        drained = self._resumeFlush()
        if drained and (self._finishPending or self._unregisterPending):
            self._tellConsumerIfDrained()
        producer = self.producer
        if producer is None or self.stopped:
            return
        if self.producerIsStreaming:
            if self.producerPaused:
                # Paused at the high mark: resumed at the low mark, not before.
                self._resumeUpstreamIfDrained()
            elif self.outstandingPull:
                # Nothing went out for this pull: ask for more.
                producer.resumeProducing()
        elif self.iAmStreaming:
            self._pull()
        elif drained and not self.bufferedBytes:
            # A pull proxy pulls only with an empty buffer. (Read again:
            # telling the consumer we are done may have led to a write.)
            producer.resumeProducing()

    def _writeSomeData(self, data: bytes) -> int:
        """Write as much of *data* as possible to the consumer; return the bytes written.

        Override to model a consumer that takes only part of a write: the
        rest stays buffered, in order, and goes out on a later flush.
        """
        if self.consumer is None:
            return 0
        self.consumer.write(data)
        return len(data)


def proxy_classes(core: type) -> Tuple[type, type]:
    """Build (BasicProducerConsumerProxy, ProducerConsumerProxy) over *core*.

    *core* is ``pcp._core.ProxyCore`` or its pure-Python twin; ``pcp`` exports
    the pair built over the selected one.
    """

    class BasicProducerConsumerProxy(BasicProtocol, core):  # type: ignore[misc, valid-type]
        __doc__ = BasicProtocol.__doc__

    class ProducerConsumerProxy(BufferedProtocol, BasicProducerConsumerProxy):  # type: ignore[misc, valid-type]
        __doc__ = BufferedProtocol.__doc__

    for cls in (BasicProducerConsumerProxy, ProducerConsumerProxy):
        cls.__module__ = "pcp"
        cls.__qualname__ = cls.__name__
    declare_interfaces(BasicProducerConsumerProxy, ProducerConsumerProxy)
    return BasicProducerConsumerProxy, ProducerConsumerProxy
