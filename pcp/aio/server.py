"""A forwarding server: accept TCP connections, connect each to a target, forward both ways.

    server = await pcp.aio.start_server(("backend", 80), "127.0.0.1", 8080)
    ...
    server.close()                 # stop accepting
    server.close_connections()     # end the open ones gracefully (or abort_connections())
    await server.wait_closed()     # until the listener and every connection are closed

Each accepted connection is a ``pcp.aio.Connection`` (its client side is not
read until the target is connected); ``server.connections`` is a live,
read-only mapping of the open ones by number, and ``server.totals()`` sums the
counters of all connections so far.
"""

from __future__ import annotations

import asyncio
import socket
import types
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from pcp.aio.connection import Connection, check_marks

__all__ = ["ForwardServer", "Totals", "start_server"]


@dataclass(frozen=True)
class Totals:
    """Counters summed over a server's connections, open and closed.

    ``open``: connections open now; ``total``: accepted so far; ``up``/``down``:
    bytes delivered each way; ``buffered``: held by pcp now (open ones);
    ``peak_buffered``: the largest peak of any one direction; ``pauses``: times
    a source was paused at the high-water mark.
    """

    open: int
    total: int
    up: int
    down: int
    buffered: int
    peak_buffered: int
    pauses: int


class ForwardServer:
    """A listening server forwarding each accepted connection to ``target``.

    Made by ``start_server``. Attributes: ``target`` (host, port);
    ``sockets`` (the listening sockets); ``addresses`` (their bound addresses);
    ``connections`` (a live read-only mapping number -> ``Connection`` of
    the open connections); ``accepted`` (how many so far); ``buffer_size``,
    ``low_water``. ``async with server:`` closes it and aborts what is open
    on exit.
    """

    def __init__(
        self,
        target: Tuple[str, int],
        *,
        buffer_size: int,
        low_water: int,
        half_close: bool,
        read_size: Optional[int],
        connect_timeout: Optional[float],
        on_open: Optional[Callable[[Connection], Any]],
        on_close: Optional[Callable[[Connection], Any]],
    ) -> None:
        self.target = target
        self.buffer_size = buffer_size
        self.low_water = low_water
        self.half_close = half_close
        self.read_size = read_size
        self.connect_timeout = connect_timeout
        self.on_open = on_open
        self.on_close = on_close
        self.accepted: int = 0
        self._open: Dict[int, Connection] = {}
        self.connections: Mapping[int, Connection] = types.MappingProxyType(self._open)
        self._closed = dict(up=0, down=0, pauses=0, peak=0)
        self._server: Optional[asyncio.Server] = None
        self._idle: Optional["asyncio.Future[None]"] = None

    # -- the listener ---------------------------------------------------------------------

    @property
    def sockets(self) -> Tuple[Any, ...]:
        """The listening sockets (empty once closed)."""
        return tuple(self._server.sockets) if self._server is not None else ()

    @property
    def addresses(self) -> List[Any]:
        """The bound addresses, e.g. ``[("127.0.0.1", 8080)]``."""
        return [sock.getsockname() for sock in self.sockets]

    def is_serving(self) -> bool:
        """True while accepting connections."""
        return self._server is not None and self._server.is_serving()

    def close(self) -> None:
        """Stop accepting connections; the open ones go on (see ``close_connections``)."""
        if self._server is not None:
            self._server.close()

    def close_connections(self) -> None:
        """End every open connection gracefully (each side closed after what it is owed)."""
        for conn in list(self._open.values()):
            conn.close()

    def abort_connections(self) -> None:
        """Abort every open connection at once."""
        for conn in list(self._open.values()):
            conn.abort()

    async def wait_closed(self) -> None:
        """Wait until the listener is closed and every connection has finished."""
        if self._server is not None:
            await self._server.wait_closed()
        while self._open:
            await asyncio.wait([asyncio.ensure_future(c.wait_closed()) for c in list(self._open.values())])

    async def __aenter__(self) -> "ForwardServer":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self.close()
        self.abort_connections()
        await self.wait_closed()

    # -- counters -------------------------------------------------------------------------

    def totals(self) -> Totals:
        """Counters over every connection so far, open or closed."""
        sums = dict(self._closed)
        buffered = 0
        for conn in self._open.values():
            self._add(sums, conn)
            buffered += conn.up.buffered + conn.down.buffered
        return Totals(open=len(self._open), total=self.accepted, up=sums["up"], down=sums["down"],
                      buffered=buffered, peak_buffered=sums["peak"], pauses=sums["pauses"])

    @staticmethod
    def _add(sums: Dict[str, int], conn: Connection) -> None:
        up, down = conn.up, conn.down
        sums["up"] += up.bytes
        sums["down"] += down.bytes
        sums["pauses"] += up.pauses + down.pauses
        sums["peak"] = max(sums["peak"], up.peak_buffered, down.peak_buffered)

    # -- connections ----------------------------------------------------------------------

    def _accept(self) -> asyncio.BaseProtocol:
        loop = asyncio.get_running_loop()
        self.accepted += 1
        conn = Connection(loop, buffer_size=self.buffer_size, low_water=self.low_water,
                          half_close=self.half_close, read_size=self.read_size,
                          number=self.accepted, on_close=self._finished)
        self._open[conn.number] = conn
        host, port = self.target
        conn.target_address = (host, port)
        conn._client_made = self._client_made
        return conn.client

    def _client_made(self, conn: Connection) -> None:
        self._call(self.on_open, conn)
        if not conn.dead:
            conn.connect_target(self.target[0], self.target[1], timeout=self.connect_timeout)

    def _finished(self, conn: Connection) -> None:
        self._open.pop(conn.number, None)
        self._add(self._closed, conn)
        self._call(self.on_close, conn)

    @staticmethod
    def _call(callback: Optional[Callable[[Connection], Any]], conn: Connection) -> None:
        if callback is None:
            return
        try:
            callback(conn)
        except Exception as exc:
            conn.loop.call_exception_handler(
                {"message": f"pcp.aio: exception in callback {callback!r}", "exception": exc,
                 "connection": conn}
            )


async def start_server(
    connect: Tuple[str, int],
    host: Union[str, Sequence[str], None] = None,
    port: int = 0,
    *,
    sock: Optional[socket.socket] = None,
    backlog: int = 100,
    connect_timeout: Optional[float] = 30.0,
    buffer_size: int = 65536,
    low_water: Optional[int] = None,
    half_close: bool = True,
    read_size: Optional[int] = None,
    reuse_address: Optional[bool] = None,
    on_open: Optional[Callable[[Connection], Any]] = None,
    on_close: Optional[Callable[[Connection], Any]] = None,
) -> ForwardServer:
    """Listen on *host*:*port* and forward each connection to *connect* ``(host, port)``.

    *host* and *port* are as for ``loop.create_server`` (None: all
    interfaces; port 0: any free port, see ``server.addresses``), or *sock*,
    a bound TCP socket of your own (then *host* and *port* stay unset; the
    loop calls ``listen(backlog)`` on it and closes it with the server). Each
    accepted connection is not read until the target is connected (within
    *connect_timeout* seconds, None for no limit); if that fails the client's
    connection is closed and the ``Connection`` ends with ``forwarded``
    False. *buffer_size*, *low_water*, *half_close*, *read_size*: as for
    ``pcp.aio.forward``, per connection and direction. *on_open(conn)* is
    called when a connection is accepted (before the target is connected),
    *on_close(conn)* when it has finished (``conn.stats`` is final then);
    exceptions they raise go to the loop's exception handler. Returns the
    ``ForwardServer``, serving already.
    """
    if (not isinstance(connect, tuple) or len(connect) != 2 or not isinstance(connect[0], str)
            or isinstance(connect[1], bool) or not isinstance(connect[1], int)):
        raise TypeError(f"connect must be a (host, port) tuple, got {connect!r}")
    if not 1 <= connect[1] <= 65535:
        raise ValueError(f"connect port must be between 1 and 65535, got {connect[1]}")
    if connect_timeout is not None and not connect_timeout > 0:
        raise ValueError(f"connect_timeout must be positive or None, got {connect_timeout!r}")
    low = check_marks(buffer_size, low_water, read_size)
    if sock is not None:
        if not isinstance(sock, socket.socket):
            raise TypeError(f"sock must be a socket.socket, not {type(sock).__name__}")
        if host is not None or port != 0:
            raise ValueError("give host and port, or sock, not both")
    server = ForwardServer(connect, buffer_size=buffer_size, low_water=low, half_close=half_close,
                           read_size=read_size, connect_timeout=connect_timeout,
                           on_open=on_open, on_close=on_close)
    loop = asyncio.get_running_loop()
    create: Any = loop.create_server  # host may be a sequence: typeshed's overloads disagree
    if sock is not None:
        server._server = await create(server._accept, sock=sock, backlog=backlog)
    else:
        server._server = await create(server._accept, host, port, backlog=backlog, reuse_address=reuse_address)
    return server
