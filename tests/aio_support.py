"""Support for the pcp.aio tests: a fixture running each test on asyncio and on uvloop,
real loopback endpoints, deterministic payloads.

``run(main, timeout)`` (the ``aio`` fixture) runs ``main()`` on a fresh loop of
the fixture's kind, bounded in time. Endpoints are plain asyncio protocols
or sockets over 127.0.0.1: nothing is mocked.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
from typing import Any, Awaitable, Callable, List, Optional, Tuple

import pytest

MiB = 1 << 20
_BLOCK = os.urandom(MiB + 4099)
_DOUBLED = _BLOCK + _BLOCK
PERIOD = len(_BLOCK)


def pattern(offset: int, n: int, seed: int = 0) -> bytes:
    """*n* bytes (n <= PERIOD) of a deterministic stream *seed* from *offset*."""
    start = (offset + seed * 7919) % PERIOD
    return _DOUBLED[start : start + n]


def stream_digest(total: int, seed: int = 0, chunk: int = 256 * 1024) -> str:
    """sha256 of the first *total* bytes of stream *seed*."""
    h = hashlib.sha256()
    for off in range(0, total, chunk):
        h.update(pattern(off, min(chunk, total - off), seed))
    return h.hexdigest()


class Runner:
    """Runs coroutines on one kind of loop ("asyncio" or "uvloop")."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def new_loop(self) -> asyncio.AbstractEventLoop:
        if self.kind == "uvloop":
            import uvloop

            return uvloop.new_event_loop()
        return asyncio.new_event_loop()

    def __call__(self, main: Callable[[], Awaitable[Any]], timeout: float = 20) -> Any:
        """Run ``main()`` on a new loop; fail if the loop's exception handler was called."""
        loop = self.new_loop()
        errors: List[Any] = []
        loop.set_exception_handler(lambda _loop, context: errors.append(context))
        try:
            result = loop.run_until_complete(asyncio.wait_for(main(), timeout))
            assert not errors, f"errors reported to the loop's exception handler: {errors}"
            return result
        finally:
            try:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for t in pending:
                    t.cancel()
                if pending:
                    loop.run_until_complete(asyncio.wait(pending, timeout=5))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()


def _uvloop_reason() -> Optional[str]:
    try:
        import uvloop  # noqa: F401
    except ImportError as e:
        return f"uvloop is not installed ({e}); install the 'uvloop' extra to test on it"
    return None


@pytest.fixture(params=["asyncio", "uvloop"])
def aio(request: Any) -> Runner:
    """Run a coroutine function on the default asyncio loop, then on uvloop."""
    if request.param == "uvloop":
        reason = _uvloop_reason()
        if reason:
            pytest.skip(reason)
    return Runner(request.param)


# -- endpoints ----------------------------------------------------------------------------


async def socket_pair_through(listener: socket.socket) -> Tuple[socket.socket, socket.socket]:
    """(the accepted socket, the connecting one), both connected and non-blocking."""
    loop = asyncio.get_running_loop()
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.setblocking(False)
    connecting = loop.sock_connect(client, listener.getsockname())
    accepted, _ = await asyncio.gather(loop.sock_accept(listener), connecting)
    server_side = accepted[0]
    server_side.setblocking(False)
    return server_side, client


def listener() -> socket.socket:
    """A listening, non-blocking TCP socket on 127.0.0.1."""
    sock = socket.create_server(("127.0.0.1", 0), backlog=512)
    sock.setblocking(False)
    return sock


class Peer(asyncio.Protocol):
    """An endpoint that records what arrives and can send a stream, pause, half-close.

    ``received``: bytes so far; ``eof``: future set at end-of-file;
    ``lost``: future set with the connection_lost exception (None: clean).
    ``send(total, seed)`` writes stream *seed* with flow control and then
    ``write_eof()``; ``slow(rate)`` reads at about *rate* bytes/s.
    """

    def __init__(self, keep: bool = True) -> None:
        loop = asyncio.get_running_loop()
        self.loop = loop
        self.keep = keep
        self.chunks: List[bytes] = []
        self.count = 0
        self.hash = hashlib.sha256()
        self.eof: "asyncio.Future[None]" = loop.create_future()
        self.lost: "asyncio.Future[Optional[BaseException]]" = loop.create_future()
        self.made: "asyncio.Future[None]" = loop.create_future()
        self.transport: Any = None
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._rate: Optional[float] = None
        self._start = 0.0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.made.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.count += len(data)
        self.hash.update(data)
        if self.keep:
            self.chunks.append(data)
        if self._rate:
            ahead = self._start + self.count / self._rate - self.loop.time()
            if ahead > 0:
                self.transport.pause_reading()
                self.loop.call_later(ahead, self._resume)

    def _resume(self) -> None:
        if not self.transport.is_closing():
            self.transport.resume_reading()

    def slow(self, rate: float) -> None:
        self._rate = rate
        self._start = self.loop.time()

    def eof_received(self) -> bool:
        if not self.eof.done():
            self.eof.set_result(None)
        return True

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self._can_write.set()
        if not self.eof.done():
            self.eof.set_result(None)
        if not self.lost.done():
            self.lost.set_result(exc)

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)

    async def send(self, total: int, seed: int = 0, chunk: int = 256 * 1024, eof: bool = True) -> None:
        off = 0
        while off < total:
            await self._can_write.wait()
            if self.transport.is_closing():
                raise ConnectionError("closed while sending")
            n = min(chunk, total - off)
            self.transport.write(pattern(off, n, seed))
            off += n
        if eof:
            self.transport.write_eof()


async def open_peer(address: Any, **kwargs: Any) -> Peer:
    loop = asyncio.get_running_loop()
    _, peer = await loop.create_connection(lambda: Peer(**kwargs), *address[:2])
    return peer


async def serve_peers(rcvbuf: Optional[int] = None, **kwargs: Any) -> Tuple[Any, "asyncio.Queue[Peer]"]:
    """A server on 127.0.0.1 whose accepted connections are Peers, queued as they come.

    *rcvbuf*: the accepted sockets' SO_RCVBUF (small: the kernel holds little).
    """
    loop = asyncio.get_running_loop()
    queue: "asyncio.Queue[Peer]" = asyncio.Queue()

    def make() -> Peer:
        peer = Peer(**kwargs)
        peer.made.add_done_callback(lambda _: queue.put_nowait(peer))
        return peer

    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    sock.setblocking(False)
    server = await loop.create_server(make, sock=sock)
    return server, queue


async def forward_endpoints(rcvbuf: Optional[int] = None, sndbuf: Optional[int] = None,
                            **peer_kwargs: Any) -> Tuple[Peer, socket.socket, socket.socket, Peer, Any]:
    """(client Peer, a, b, target Peer, target server) for ``pcp.aio.forward(a, b)``.

    ``a`` is the accepted socket of the client's connection, ``b`` a socket
    connected to the target (its SO_SNDBUF *sndbuf*; the target's SO_RCVBUF *rcvbuf*).
    """
    loop = asyncio.get_running_loop()
    server, queue = await serve_peers(rcvbuf=rcvbuf, **peer_kwargs)
    lsock = socket.create_server(("127.0.0.1", 0))
    lsock.setblocking(False)
    client_conn = loop.create_connection(lambda: Peer(**peer_kwargs), *lsock.getsockname())
    (a, _), (_, client) = await asyncio.gather(loop.sock_accept(lsock), client_conn)
    lsock.close()
    b = socket.socket()
    if sndbuf is not None:
        b.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    b.setblocking(False)
    await loop.sock_connect(b, server.sockets[0].getsockname())
    target = await asyncio.wait_for(queue.get(), 5)
    return client, a, b, target, server


def reset(transport: Any) -> None:
    """Close with a TCP RST (SO_LINGER 0)."""
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    transport.abort()
