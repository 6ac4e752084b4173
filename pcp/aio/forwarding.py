"""Forward between two connected sockets: ``forward(a, b)`` and ``async with forwarding(a, b)``.

``a`` and ``b`` are connected TCP (or Unix stream) sockets, for instance one
accepted from a listening socket and one connected to a backend. Each is
handed to the running loop with ``loop.connect_accepted_socket``, which makes
a protocol-level transport of it (the loop owns and closes the socket from
then on): the same fast path as a server's connections, on asyncio and on
uvloop, with no stream layer in between. ``a`` plays the client, ``b`` the
target: ``up`` is a to b, ``down`` b to a.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any, AsyncIterator, Optional

from pcp.aio.connection import Connection, check_marks
from pcp.aio.stats import ForwardStats

__all__ = ["forward", "forwarding"]


def _check_socket(name: str, sock: Any) -> None:
    if not isinstance(sock, socket.socket):
        raise TypeError(f"{name} must be a connected socket.socket, not {type(sock).__name__}")
    if sock.fileno() < 0:
        raise ValueError(f"{name} is closed")
    if sock.type != socket.SOCK_STREAM:
        raise ValueError(f"{name} must be a stream (SOCK_STREAM) socket, not {sock.type!r}")


@contextlib.asynccontextmanager
async def forwarding(
    a: socket.socket,
    b: socket.socket,
    *,
    buffer_size: int = 65536,
    low_water: Optional[int] = None,
    half_close: bool = True,
    read_size: Optional[int] = None,
) -> AsyncIterator[Connection]:
    """Forward between sockets *a* and *b* for the duration of an ``async with`` block.

    Yields the ``Connection`` (live ``up``/``down`` stats, ``close()``,
    ``abort()``, ``wait_closed()``). Leaving the block, normally, by an
    exception or by cancellation, aborts both sides if they are still open
    (so ``await conn.wait_closed()`` inside the block to let them finish).
    Options as for ``forward``.
    """
    _check_socket("a", a)
    _check_socket("b", b)
    if a is b or a.fileno() == b.fileno():
        raise ValueError("a and b must be two different sockets")
    check_marks(buffer_size, low_water, read_size)
    loop = asyncio.get_running_loop()
    conn = Connection(loop, buffer_size=buffer_size, low_water=low_water, half_close=half_close,
                      read_size=read_size, names=("a", "b"))
    try:
        await loop.connect_accepted_socket(lambda: conn.client, a)
        await loop.connect_accepted_socket(lambda: conn.target, b)
    except BaseException:
        conn.abort()
        for side, sock in ((conn.client, a), (conn.target, b)):
            if side.transport is None and not side.lost:
                sock.close()  # not taken over by the loop
        raise
    try:
        yield conn
    finally:
        if not conn.done:
            conn.abort()
            # connection_lost comes on the next loop turns; wait for it, briefly.
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(conn.wait_closed(), 5)


async def forward(
    a: socket.socket,
    b: socket.socket,
    *,
    buffer_size: int = 65536,
    low_water: Optional[int] = None,
    half_close: bool = True,
    read_size: Optional[int] = None,
) -> ForwardStats:
    """Forward bytes both ways between connected sockets *a* and *b*; return the stats.

    - *buffer_size*: the high-water mark of each direction: pcp stops reading
      the source once it holds this many bytes for a destination that is not
      taking them, and the destination transport pauses pcp when its own
      buffer passes it (default 65536);
    - *low_water*: reading resumes once pcp's buffer has fallen to this, and
      the transport resumes pcp once its buffer has (default buffer_size // 4);
    - *half_close*: end-of-file from one side is passed on as ``write_eof()``
      to the other (after what was buffered) and the other direction keeps
      going; with False the first end-of-file closes both sides gracefully;
    - *read_size*: read at most this many bytes at a time, into one reused
      buffer (default: the loop's own reads, 256 KiB on asyncio and uvloop).

    Completes when both sockets are closed, with a ``ForwardStats`` (bytes,
    pauses, peak buffered each way, and how it ended). A lost or reset side
    closes the other once what it is owed has been written. Cancelling the
    call aborts both sides. The loop takes over the sockets and closes them.
    """
    async with forwarding(a, b, buffer_size=buffer_size, low_water=low_water,
                          half_close=half_close, read_size=read_size) as conn:
        return await conn.wait_closed()
