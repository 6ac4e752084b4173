"""One forwarded connection: two asyncio transports and a pcp proxy each way.

A ``Connection`` joins two TCP connections, ``client`` and ``target`` (for
``pcp.aio.forward(a, b)``: ``a`` and ``b``), with two
``pcp.ProducerConsumerProxy`` objects: ``up`` carries the client's bytes to
the target, ``down`` the target's back. Each proxy writes to a
``TransportConsumer`` over the destination transport and has a
``TransportProducer`` over the source transport as its push producer; the
source protocol's ``data_received`` *is* the proxy's ``write``.

Flow control, per direction: the destination transport's write-buffer limits
are set to pcp's marks (high ``buffer_size``, low ``low_water``); when the
transport passes its high mark it pauses the proxy, which then keeps what it
reads in its ring (small reads coalesced, O(1) each), pauses reading the
source once it holds ``buffer_size`` bytes, and when the transport falls to
its low mark hands it everything held as one write and resumes reading once
drained to ``low_water``. While the transport wants data, pcp holds nothing:
each read is passed straight on.

Ends: end-of-file from one side reaches the other, after what was buffered,
as ``write_eof()`` (with ``half_close=True``; with ``half_close=False`` it
closes the whole connection gracefully); a side that is closed or lost closes
its partner once what it is owed has been written; ``close()`` does that for
both sides at once; ``abort()`` drops both at once. ``wait_closed()`` gives
the final ``ForwardStats``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any, Callable, List, Optional, Tuple

import pcp
from pcp.aio.adapters import TransportConsumer, TransportProducer, set_limits
from pcp.aio.stats import Direction, DirectionStats, ForwardStats

__all__ = ["Connection", "check_marks"]

Address = Any  # whatever the transport's get_extra_info("peername") gives: (host, port[, ...])


LINGER = 2.0
"""Seconds a side whose partner was lost is still read (and what it sends dropped) before it is closed."""


def check_marks(buffer_size: int, low_water: Optional[int], read_size: Optional[int] = None) -> int:
    """Validate the marks; return the low-water mark to use (``buffer_size // 4`` when None)."""
    for name, value in (("buffer_size", buffer_size), ("low_water", low_water), ("read_size", read_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if buffer_size < 1:
        raise ValueError(f"buffer_size must be at least 1, got {buffer_size}")
    if read_size is not None and read_size < 1:
        raise ValueError(f"read_size must be at least 1, got {read_size}")
    if low_water is None:
        return buffer_size // 4
    if not 0 <= low_water <= buffer_size:
        raise ValueError(f"low_water must be between 0 and buffer_size ({buffer_size}), got {low_water}")
    return low_water


def error_text(exc: BaseException) -> str:
    """A short description of a connection error: the OS's text for its errno, else its message."""
    errno = getattr(exc, "errno", None)
    if isinstance(errno, int) and errno > 0:
        return os.strerror(errno)
    return str(exc) or type(exc).__name__


def _describe(exc: Optional[BaseException]) -> str:
    return "closed" if exc is None else f"lost ({error_text(exc)})"


class _Ended:
    """What a finished connection's sides point to instead of it (no cycle): late events do nothing."""

    def _made(self, side: Any, transport: Any) -> None:
        transport.abort()

    def _eof(self, side: Any) -> bool:
        return True

    def _lost(self, side: Any, exc: Optional[BaseException]) -> None:
        pass


_ENDED = _Ended()


class _SideBase(asyncio.BaseProtocol):
    """What both kinds of side share: the protocol of one of the two connections."""

    def __init__(self, connection: "Connection", name: str) -> None:
        self.connection = connection
        self.name = name
        self.transport: Optional[Any] = None
        # What is written to this side, and what reads it.
        self.consumer: TransportConsumer = TransportConsumer()
        self.producer: TransportProducer = TransportProducer()
        self.reading_proxy: Any = None  # the proxy this side's data goes into
        self.eof = False  # this side sent end-of-file
        self.finishing = False  # reading_proxy.finish() was called
        self.lost = False

    def connection_made(self, transport: Any) -> None:
        self.connection._made(self, transport)

    def eof_received(self) -> bool:
        return self.connection._eof(self)

    def pause_writing(self) -> None:
        self.consumer.pause_writing()

    def resume_writing(self) -> None:
        self.consumer.resume_writing()

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.connection._lost(self, exc)


class _Side(_SideBase, asyncio.Protocol):
    """A side whose transport reads into new bytes objects, handed to pcp as they are."""

    def data_received(self, data: bytes) -> None:  # replaced by the proxy's write
        self.reading_proxy.write(data)


class _BufferedSide(_SideBase, asyncio.BufferedProtocol):
    """A side that reads at most ``read_size`` bytes at a time into one reused buffer.

    Not an ``asyncio.Protocol``: uvloop would take it for one and call
    ``data_received`` with its own 256 KB reads.
    """

    def __init__(self, connection: "Connection", name: str, read_size: int) -> None:
        super().__init__(connection, name)
        self._view = memoryview(bytearray(read_size))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        # pcp copies what it keeps (or passes on bytes): the view is reused at once.
        self.reading_proxy.write(self._view[:nbytes])


class Connection:
    """One forwarded connection, its two sides and a ``pcp.ProducerConsumerProxy`` each way.

    Made by ``pcp.aio.forwarding``/``forward`` and by ``pcp.aio.start_server``,
    or by an accept loop of your own::

        conn = Connection(loop, buffer_size=65536, low_water=None, half_close=True,
                          read_size=None, number=1, on_close=callback)
        await loop.connect_accepted_socket(lambda: conn.client, accepted_socket)
        conn.connect_target(host, port, timeout=30.0)   # or connect conn.target yourself

    The marks are not checked here: check them once with ``check_marks``.
    ``conn.client`` and ``conn.target`` are the two sides' protocols (one
    use each). Attributes:

    - ``number``: its number on its server (1, 2, ...; 0 for ``forward``);
    - ``client_address``, ``target_address``: the peer addresses (the
      target's is the address connected to until the connection is made);
    - ``up``, ``down``: live ``Direction`` views (client to target, back);
    - ``started``: ``loop.time()`` when it was made;
    - ``forwarded``: both sides are connected and joined;
    - ``ended``: what ended it first (None while open), e.g. ``"client closed"``;
    - ``done``: it is over; ``stats``: the final ``ForwardStats`` then.

    ``close()`` ends it gracefully (both sides are closed after what they are
    owed), ``abort()`` at once; ``await wait_closed()`` returns the stats.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        buffer_size: int = 65536,
        low_water: Optional[int] = None,
        half_close: bool = True,
        read_size: Optional[int] = None,
        number: int = 0,
        names: Tuple[str, str] = ("client", "target"),
        on_close: Optional[Callable[["Connection"], Any]] = None,
    ) -> None:
        # The marks are checked by forwarding() and start_server() (check_marks), once.
        low = buffer_size // 4 if low_water is None else low_water
        self.loop = loop
        self.number = number
        self.half_close = half_close
        self.on_close = on_close
        self.started: float = loop.time()
        self.client_address: Optional[Address] = None
        self.target_address: Optional[Address] = None
        self.forwarded: bool = False
        self.ended: Optional[str] = None
        self.error: Optional[BaseException] = None
        self.stats: Optional[ForwardStats] = None
        self.closing: bool = False
        self.dead: bool = False  # being torn down: a side connecting now is dropped at once
        self._connect_task: Optional["asyncio.Task[Any]"] = None
        self._client_made: Optional[Callable[["Connection"], Any]] = None  # set by a server
        self._waiters: "Optional[asyncio.Future[ForwardStats]]" = None  # made by the first wait_closed()
        # Loops that read after connection_made even when it paused reading.
        self._hold = sys.version_info < (3, 11) or type(loop).__module__.startswith("uvloop")
        if read_size is None:
            self.client: _SideBase = _Side(self, names[0])
            self.target: _SideBase = _Side(self, names[1])
        else:
            self.client = _BufferedSide(self, names[0], read_size)
            self.target = _BufferedSide(self, names[1], read_size)
        self._proxies: List[Any] = []
        for source, destination in ((self.client, self.target), (self.target, self.client)):
            proxy = pcp.ProducerConsumerProxy(destination.consumer)
            proxy.bufferSize = buffer_size
            proxy.lowWater = low
            proxy.registerProducer(source.producer, True)
            source.reading_proxy = proxy
            if read_size is None:
                # The hot path: the transport hands each read straight to pcp.
                source.data_received = proxy.write  # type: ignore[attr-defined, union-attr, method-assign, assignment, unused-ignore]
            destination.consumer.on_finish = self._finished_writing(destination)
            self._proxies.append(proxy)
        self.up: Direction = Direction(self._proxies[0], self.target.consumer)
        self.down: Direction = Direction(self._proxies[1], self.client.consumer)
        self.buffer_size = buffer_size
        self.low_water = low

    # -- properties ---------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """Both sides are closed (or the target was never connected) and the stats are final."""
        return self.stats is not None

    def __repr__(self) -> str:
        state = f"ended: {self.ended}" if self.ended else ("forwarding" if self.forwarded else "connecting")
        return (f"<Connection {self.number} {self.client_address} -> {self.target_address}, {state}, "
                f"{self.up.bytes} bytes up, {self.down.bytes} down>")

    def snapshot(self) -> ForwardStats:
        """The counters now (the final ones once done)."""
        if self.stats is not None:
            return self.stats
        return self._make_stats(self.ended or "open", self.error)

    def _make_stats(self, ended: str, error: Optional[BaseException]) -> ForwardStats:
        return ForwardStats(self.up.snapshot(), self.down.snapshot(), ended, error,
                            self.loop.time() - self.started, self.forwarded)

    # -- control --------------------------------------------------------------------------

    async def wait_closed(self) -> ForwardStats:
        """Wait until both sides are closed; return the final stats. Cancelling the wait leaves the connection be."""
        if self.stats is not None:
            return self.stats
        if self._waiters is None:
            self._waiters = self.loop.create_future()
        return await asyncio.shield(self._waiters)

    def close(self) -> None:
        """End gracefully: stop reading both sides; close each once what it is owed is written.

        A connection not yet joined (the target still connecting) is aborted:
        nothing is owed to anyone.
        """
        if self.done or self.closing:
            return
        self.closing = True
        self._first_end("closed by the forwarder")
        if not self.forwarded:
            self.abort()  # nothing was forwarded yet: nobody is owed anything
            return
        for side in (self.client, self.target):
            side.consumer.close_on_finish = True
        for side, other in ((self.client, self.target), (self.target, self.client)):
            side.producer.pauseProducing()
            self._finish_direction(side, other)

    def abort(self) -> None:
        """End at once: both transports are aborted, whatever is buffered is dropped."""
        if self.done:
            return
        self.dead = True
        self._first_end("aborted")
        if self._connect_task is not None and self.target.transport is None:
            # Only while connecting: cancelled once the target's transport is
            # made, uvloop's create_connection would close it without its
            # connection_lost; aborting the transport ends the task too.
            self._connect_task.cancel()
        for side in (self.client, self.target):
            if side.transport is not None:
                side.transport.abort()
        self._maybe_done()

    # -- connecting (server side) ------------------------------------------------------

    def connect_target(self, host: str, port: int, *, timeout: Optional[float], **kwargs: Any) -> None:
        """Connect the target side to ``(host, port)`` (the client side is accepted already)."""
        self.target_address = (host, port)
        task = self.loop.create_task(self.loop.create_connection(lambda: self.target, host, port, **kwargs))
        self._connect_task = task
        # The outcome is handled by a done callback, not in a coroutine body:
        # a task cancelled before its first step (the client reset in the turn
        # it was accepted) never runs its body, but its callbacks always run.
        task.add_done_callback(self._connected)
        if timeout is not None:
            # A timer, not asyncio.wait_for: one handle instead of a task and a future per connection.
            self._connect_timer = self.loop.call_later(timeout, self._connect_timed_out, task, timeout)

    _connect_timer: Optional[asyncio.TimerHandle] = None
    _timed_out: Optional[float] = None

    def _connect_timed_out(self, task: "asyncio.Task[Any]", timeout: float) -> None:
        if not task.done() and self.target.transport is None:  # made: connected in time
            self._timed_out = timeout
            task.cancel()

    def _connected(self, task: "asyncio.Task[Any]") -> None:
        """The connect task is over: connected, failed, timed out or cancelled."""
        self._connect_task = None
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None
        if task.cancelled():
            if self._timed_out is None:
                self._maybe_done()  # the client went, or the connection was aborted
                return
            exc: BaseException = asyncio.TimeoutError(f"timed out after {self._timed_out:g}s")
            why = f"timed out after {self._timed_out:g}s"
        else:
            error = task.exception()
            if error is None:
                self._maybe_done()  # connected (and maybe aborted since: then it ends now)
                return
            exc, why = error, error_text(error)  # refused, unreachable, bad address
        self._first_end(f"connecting to the target failed: {why}", exc)
        if self.client.transport is not None:
            self.client.transport.close()
        self._maybe_done()

    # -- events from the sides -----------------------------------------------------------

    def _made(self, side: _SideBase, transport: Any) -> None:
        side.transport = transport
        other = self.target if side is self.client else self.client
        if other.transport is None or self.dead:
            # Not read until both sides are joined. uvloop, and asyncio before
            # 3.11, start reading after connection_made whatever they were told
            # there: pause again, one callback later, before the first poll.
            # (The side that joins a connected partner is read at once.)
            transport.pause_reading()
            if self._hold:
                self.loop.call_soon(self._hold_reading, side)
        address = transport.get_extra_info("peername")
        if side is self.client:
            self.client_address = address
        else:
            self.target_address = address
        if self.dead:  # aborted, or the client was lost, while this side was connecting
            # Dropped, and not waited for: uvloop never reports connection_lost
            # for a transport whose create_connection is cancelled before it
            # resumes (it closes the handle directly), which is what cut it.
            side.transport = None
            side.lost = True
            transport.abort()
            self._maybe_done()
            return
        writer = self._proxies[1] if side is self.client else self._proxies[0]
        set_limits(transport, high=writer.bufferSize, low=writer.lowWater)
        side.producer.attach(transport)
        # The hot path: pcp hands its consumer bytes only (never a caller's
        # mutable buffer), so it may write to the transport with no adapter
        # frame in between. Assigning the consumer again makes pcp look
        # ``write`` up anew.
        side.consumer.write = transport.write  # type: ignore[method-assign]
        writer.consumer = side.consumer
        side.consumer.attach(transport)  # resumes the writer: what it holds goes out
        if side is self.client and self._client_made is not None:
            self._client_made(self)
        if self.client.transport is not None and self.target.transport is not None:
            self.forwarded = True
            for s in (self.client, self.target):
                if s.producer.reading and s.transport is not None and not s.transport.is_closing():
                    s.transport.resume_reading()

    def _hold_reading(self, side: _SideBase) -> None:
        transport = side.transport
        if not self.forwarded and transport is not None and not transport.is_closing():
            # Resumed first: asyncio 3.9 and 3.10 think the transport paused
            # already and would not remove the reader they added since.
            transport.resume_reading()
            transport.pause_reading()

    def _eof(self, side: _SideBase) -> bool:
        if side.eof:  # uvloop reports end-of-file again if reading is resumed after it
            return True
        side.eof = True
        self._first_end(f"{side.name} closed")
        other = self.target if side is self.client else self.client
        if not self.half_close:
            self.close()
            return True
        self._finish_direction(side, other)
        if side.consumer.finished and side.transport is not None:
            side.transport.close()  # it had been told end-of-file already: both ways done
        return True

    def _finish_direction(self, side: _SideBase, other: _SideBase) -> None:
        """No more data from *side*: once its proxy has drained, finish *other*'s writing."""
        if side.finishing:
            if other.consumer.finished and other.consumer.close_on_finish and other.transport is not None:
                other.transport.close()
            return
        side.finishing = True
        side.reading_proxy.finish()

    def _finished_writing(self, side: _SideBase) -> Callable[[], None]:
        def finished() -> None:
            # *side* was told end-of-file (or closed): close it if it is done sending too.
            if side.eof and side.transport is not None and not side.transport.is_closing():
                side.transport.close()

        return finished

    def _lost(self, side: _SideBase, exc: Optional[BaseException]) -> None:
        if side.lost:
            # Dropped as it was made (see _made), or reported twice (asyncio
            # 3.11 can, when a transport closed from inside its own callbacks).
            return
        side.lost = True
        side.transport = None
        # Nothing may pause, resume or abort this transport any more: asyncio
        # 3.11 reports connection_lost a second time (a traceback from
        # _call_connection_lost) when a transport that closed on its own
        # after draining is aborted, e.g. by a proxy stopping its producer.
        side.producer.transport = None
        self._first_end(f"{side.name} {_describe(exc)}", exc)
        other = self.target if side is self.client else self.client
        writer = other.reading_proxy  # the proxy writing to *side*
        # Nothing more reaches *side*: what is buffered for it is dropped, and
        # what *other* sends from now on is dropped too, counted (its proxy is
        # stopped without its producer: *other* is not aborted, it may still
        # be owed data). *other* is still read: closing a socket with unread
        # data resets it, and a reset can destroy what it is owed before it
        # has read it.
        writer.unregisterProducer()
        writer.stopProducing()
        side.consumer.__dict__.pop("write", None)
        side.consumer.connection_lost()
        if not other.eof:
            other.producer.resumeProducing()
        if side is self.client and not self.forwarded:
            self.dead = True
            if self._connect_task is not None:
                self._connect_task.cancel()
        # What *side* sent still reaches *other*, which is then half-closed and
        # closed once it has ended too, or LINGER seconds later.
        if other.transport is not None:
            if not other.consumer.finished:
                self._finish_direction(side, other)
            elif other.eof and not other.transport.is_closing():
                other.transport.close()
            if other.transport is not None and not other.transport.is_closing():
                self._linger = self.loop.call_later(LINGER, self._linger_over, other)
        side.__dict__.pop("data_received", None)
        self._maybe_done()

    _linger: Optional[asyncio.TimerHandle] = None

    def _linger_over(self, side: _SideBase) -> None:
        """*side*'s partner is gone and it has not ended: close it once it has what it is owed."""
        side.consumer.close_on_finish = True
        if side.transport is not None and side.consumer.finished and not side.transport.is_closing():
            side.transport.close()

    # -- ending ------------------------------------------------------------------------

    def _first_end(self, why: str, exc: Optional[BaseException] = None) -> None:
        if self.ended is None:
            self.ended = why
            self.error = exc

    def _maybe_done(self) -> None:
        if self.done:
            return
        for side in (self.client, self.target):
            if side.transport is not None:
                return  # still open: its connection_lost will come
        if self._connect_task is not None and not self._connect_task.done():
            return  # the connect task ends (cancelled or failed) and calls again
        if self._linger is not None:
            self._linger.cancel()
        self.stats = self._make_stats(self.ended or "closed", self.error)
        for side in (self.client, self.target):
            side.__dict__.pop("data_received", None)
        if self._waiters is not None and not self._waiters.done():
            self._waiters.set_result(self.stats)
        on_close, self.on_close = self.on_close, None  # called once; a bound method would be a cycle
        if on_close is not None:
            try:
                on_close(self)
            except Exception as exc:
                self.loop.call_exception_handler(
                    {"message": "pcp.aio: exception in on_close callback", "exception": exc,
                     "connection": self}
                )
        self._release()

    def _release(self) -> None:
        """Break the reference cycles of a finished connection, so that it is freed when dropped.

        Otherwise each connection leaves some 35 objects in cycles to the
        garbage collector: a fifth of a short connection's CPU time.
        """
        for side in (self.client, self.target):
            side.producer.transport = None
            consumer = side.consumer
            consumer.__dict__.pop("write", None)  # the transport's bound write
            consumer.on_finish = None  # a closure over this connection
            consumer.producer = None
            side.connection = _ENDED  # type: ignore[assignment]  # what a late event meets
        self._client_made = None
