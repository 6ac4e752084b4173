"""Adapters between asyncio transports and pcp's producer/consumer contract.

``TransportConsumer`` makes an asyncio transport an ``IConsumer``: what is
written to it goes to the transport, and the transport's flow control (its
protocol's ``pause_writing``/``resume_writing``, relayed by calling the
adapter's methods of the same names) pauses and resumes the push producer
registered with it. ``TransportProducer`` makes a transport an
``IPushProducer``: ``pauseProducing``/``resumeProducing`` stop and restart
reading, ``stopProducing`` aborts the connection.

With them ``pcp.ProducerConsumerProxy`` sits between two asyncio connections
unchanged::

    consumer = TransportConsumer(target_transport)      # the target's protocol relays
    proxy = pcp.ProducerConsumerProxy(consumer)         # pause_writing/resume_writing
    proxy.registerProducer(TransportProducer(client_transport), True)
    # client protocol: data_received = proxy.write

Both adapters may be made before their transport exists (``attach`` it
later): a consumer without a transport counts as paused, so a proxy writing
to it buffers, and is resumed when the transport is attached.

The guards the adapters hold, whoever writes to them:

- ``TransportConsumer.write`` hands the transport ``bytes`` only: asyncio's
  transports (Python 3.12+, uvloop) keep a reference to a queued buffer
  rather than a copy, so a ``bytearray`` changed after ``write()`` would reach
  the peer changed. A ``bytes`` object passes with no copy.
- ``set_limits`` gives the transport pcp's marks (uvloop defaults its
  low-water mark to 16 bytes: a paused producer would resume only once the
  transport's buffer is empty).
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Optional

__all__ = ["TransportConsumer", "TransportProducer", "set_limits"]


def set_limits(transport: asyncio.WriteTransport, *, high: int, low: int) -> None:
    """Set *transport*'s write-buffer limits to pcp's marks: pause above *high*, resume at *low*."""
    if not 0 <= low <= high:
        raise ValueError(f"need 0 <= low <= high, got low={low}, high={high}")
    transport.set_write_buffer_limits(high=high, low=low)


class TransportConsumer:
    """An ``IConsumer`` writing to an asyncio transport.

    The protocol of the transport must call ``pause_writing()`` and
    ``resume_writing()`` on this adapter from its own methods of those names,
    and ``connection_lost()`` when the connection is gone: they pause, resume
    and stop the registered push producer (pcp's proxies are push producers).

    ``finish()`` half-closes the connection with ``write_eof()`` where the
    transport can (plain TCP), and otherwise (TLS), or when made with
    ``close_on_finish=True``, closes it once the transport's buffer has
    drained. *on_finish*, if given, is called after either.

    Attributes: ``transport`` (None until attached and after the connection
    is lost), ``producer``, ``streaming``, ``paused`` (the transport does not
    want data), ``finished``, ``lost``.
    """

    def __init__(
        self,
        transport: Optional[asyncio.WriteTransport] = None,
        *,
        close_on_finish: bool = False,
        on_finish: Optional[Callable[[], Any]] = None,
    ) -> None:
        self.transport: Optional[asyncio.WriteTransport] = None
        self.producer: Any = None
        self.streaming: bool = False
        self.paused: bool = True
        self.finished: bool = False
        self.lost: bool = False
        self.close_on_finish = close_on_finish
        self.on_finish = on_finish
        if transport is not None:
            self.attach(transport)

    def attach(self, transport: asyncio.WriteTransport) -> None:
        """Write to *transport* from now on, and resume the producer if it was waiting for one."""
        if self.transport is not None:
            raise RuntimeError(f"{self!r} is attached to {self.transport!r} already")
        if self.lost:
            raise RuntimeError(f"{self!r}: its connection was lost")
        self.transport = transport
        self.paused = False
        if self.producer is not None:
            self.producer.resumeProducing()

    # -- IConsumer ------------------------------------------------------------------

    def write(self, data: Any) -> None:
        """Write *data* to the transport; anything but ``bytes`` is copied to ``bytes`` first."""
        transport = self.transport
        if transport is None:
            why = "its connection was lost" if self.lost else "no transport is attached yet"
            raise RuntimeError(f"cannot write to {self!r}: {why}")
        if type(data) is not bytes:
            if isinstance(data, str):
                raise TypeError("data must be a bytes-like object, not str")
            data = bytes(data)
        transport.write(data)

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """Register a push producer (``streaming`` true): paused and resumed with the transport.

        Raises ``RuntimeError`` if one is registered, ``TypeError`` for a pull
        producer (wrap it in ``pcp.ProducerConsumerProxy``, which pulls it).
        """
        if self.producer is not None:
            raise RuntimeError(
                f"Cannot register producer {producer!r}, because producer "
                f"{self.producer!r} was never unregistered."
            )
        if not streaming:
            raise TypeError(
                f"{type(self).__name__} takes push producers only; wrap the pull producer "
                f"{producer!r} in pcp.ProducerConsumerProxy, which pulls it"
            )
        self.producer = producer
        self.streaming = True
        if self.paused:
            producer.pauseProducing()

    def unregisterProducer(self) -> None:
        """Forget the producer; the connection stays open."""
        self.producer = None
        self.streaming = False

    def finish(self) -> None:
        """No more data: half-close with ``write_eof()`` where possible, else close after draining.

        Called from within ``resume_writing`` (a proxy finishing as it
        drains), the transport is closed one loop turn later: asyncio's
        selector transport calls ``connection_lost`` twice when closed
        from inside its own ``resume_writing`` with an empty buffer.
        """
        if self.finished:
            return
        self.finished = True
        if self._resuming:
            asyncio.get_running_loop().call_soon(self._finish_transport)
        else:
            self._finish_transport()

    _resuming = False

    def _finish_transport(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            if not self.close_on_finish and transport.can_write_eof():
                transport.write_eof()
            else:
                transport.close()
        if self.on_finish is not None:
            self.on_finish()

    # -- called by the transport's protocol -----------------------------------------

    def pause_writing(self) -> None:
        """The transport's buffer passed its high-water mark: pause the producer."""
        self.paused = True
        if self.producer is not None:
            self.producer.pauseProducing()

    def resume_writing(self) -> None:
        """The transport's buffer fell to its low-water mark: resume the producer."""
        self.paused = False
        if self.producer is not None:
            self._resuming = True
            try:
                self.producer.resumeProducing()
            finally:
                self._resuming = False

    def connection_lost(self) -> None:
        """The connection is gone: nothing more can be written; a registered producer is stopped."""
        self.transport = None
        self.lost = True
        self.paused = True
        producer, self.producer = self.producer, None
        if producer is not None:
            producer.stopProducing()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.transport!r}>"


class TransportProducer:
    """An ``IPushProducer`` reading from an asyncio transport.

    ``pauseProducing()`` stops reading, ``resumeProducing()`` starts again,
    ``stopProducing()`` aborts the connection (the consumer has died). The
    transport's protocol passes what it reads to the consumer (for a pcp
    proxy: ``data_received = proxy.write``). Made without a transport, it
    remembers a pause and applies it on ``attach``.

    ``reading`` says whether the transport is asked to read.
    """

    def __init__(self, transport: Optional[asyncio.ReadTransport] = None) -> None:
        self.transport: Optional[Any] = None
        self.reading: bool = True
        self.stopped: bool = False
        if transport is not None:
            self.attach(transport)

    def attach(self, transport: asyncio.ReadTransport) -> None:
        """Produce from *transport* from now on (paused at once if a pause is pending)."""
        self.transport = transport
        if not self.reading:
            transport.pause_reading()

    def pauseProducing(self) -> None:
        """Stop reading from the transport."""
        if not self.reading:
            return
        self.reading = False
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.pause_reading()

    def resumeProducing(self) -> None:
        """Read from the transport again."""
        if self.reading or self.stopped:
            return
        self.reading = True
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

    def stopProducing(self) -> None:
        """Abort the connection: its consumer is gone."""
        self.stopped = True
        self.reading = False
        transport = self.transport
        if transport is not None:
            transport.abort()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.transport!r}>"
