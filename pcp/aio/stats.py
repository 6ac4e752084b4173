"""Counters of a forwarded connection: a live view per direction and frozen snapshots.

``Direction`` reads one direction's ``pcp.ProducerConsumerProxy`` counters
(and its destination transport's queue) whenever asked; ``snapshot()`` freezes
them into a ``DirectionStats``. ``ForwardStats`` is what ``pcp.aio.forward``
returns and what a server's ``on_close`` callback sees: both directions and
how the connection ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Optional

if TYPE_CHECKING:
    from pcp import ProducerConsumerProxy

__all__ = ["Direction", "DirectionStats", "ForwardStats"]


class DirectionStats(NamedTuple):
    """One direction's counters at one moment (a named tuple: cheap to make per connection).

    ``bytes``: delivered to the destination transport; ``received``: read
    from the source; ``discarded``: read but dropped because the destination
    was gone; ``buffered``: held by pcp now; ``peak_buffered``: the most pcp
    held (at most the high-water mark plus one read); ``pauses``: times
    reading the source was paused at the high-water mark; ``queued``: bytes
    in the destination transport's own write buffer.
    """

    bytes: int
    received: int
    discarded: int
    buffered: int
    peak_buffered: int
    pauses: int
    queued: int

    @property
    def undelivered(self) -> int:
        """Bytes read that did not reach the destination transport (buffered or discarded)."""
        return self.received - self.bytes


class ForwardStats(NamedTuple):
    """A forwarded connection's outcome: both directions and how it ended (a named tuple).

    ``up`` carries the first connection's bytes to the second (client to
    target), ``down`` the way back. ``ended`` says what ended it first, e.g.
    ``"client closed"``, ``"target lost (Connection reset by peer)"``,
    ``"aborted"``, ``"connecting to the target failed: ..."``. ``error`` is the
    exception that ended it, if any (None for clean closes). ``seconds`` is
    its duration; ``forwarded`` is False when the two sides were never joined.
    """

    up: DirectionStats
    down: DirectionStats
    ended: str
    error: Optional[BaseException]
    seconds: float
    forwarded: bool


class Direction:
    """A live view of one direction of a forwarded connection.

    Its attributes are read from the direction's proxy on every access, so
    they are current: ``bytes``, ``received``, ``discarded``, ``buffered``,
    ``peak_buffered``, ``pauses``, ``queued`` (see ``DirectionStats``), and
    ``proxy``, the ``pcp.ProducerConsumerProxy`` itself.
    """

    __slots__ = ("proxy", "_consumer")

    def __init__(self, proxy: "ProducerConsumerProxy", consumer: Any) -> None:
        self.proxy: "ProducerConsumerProxy" = proxy
        self._consumer = consumer

    @property
    def bytes(self) -> int:
        """Bytes delivered to the destination transport."""
        return int(self.proxy.bytesSent)

    @property
    def received(self) -> int:
        """Bytes read from the source."""
        return int(self.proxy.bytesReceived)

    @property
    def discarded(self) -> int:
        """Bytes read after the destination was gone, dropped."""
        return int(self.proxy.bytesDiscarded)

    @property
    def buffered(self) -> int:
        """Bytes held by pcp now."""
        return int(self.proxy.bufferedBytes)

    @property
    def peak_buffered(self) -> int:
        """The most bytes pcp held at once."""
        return int(self.proxy.peakBufferedBytes)

    @property
    def pauses(self) -> int:
        """Times reading the source was paused at the high-water mark."""
        return int(self.proxy.producerPauses)

    @property
    def queued(self) -> int:
        """Bytes in the destination transport's write buffer (0 once it is closed)."""
        transport = self._consumer.transport
        return int(transport.get_write_buffer_size()) if transport is not None else 0

    def snapshot(self) -> DirectionStats:
        """The counters now, frozen."""
        proxy = self.proxy
        transport = self._consumer.transport
        return DirectionStats(
            proxy.bytesSent,
            proxy.bytesReceived,
            proxy.bytesDiscarded,
            proxy.bufferedBytes,
            proxy.peakBufferedBytes,
            proxy.producerPauses,
            transport.get_write_buffer_size() if transport is not None else 0,
        )

    def __repr__(self) -> str:
        s = self.snapshot()
        return (f"<Direction {s.bytes} bytes, {s.buffered} buffered (peak {s.peak_buffered}), "
                f"{s.pauses} pauses>")
