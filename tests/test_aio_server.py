"""pcp.aio.start_server over real TCP on 127.0.0.1, on asyncio and on uvloop."""

import asyncio
import socket
import struct

import pytest
from aio_support import MiB, Peer, aio, open_peer, pattern, serve_peers, stream_digest  # noqa: F401

import pcp.aio


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_200_concurrent_connections_each_checked(aio):
    n, size = 200, 20_000

    async def main():
        loop = asyncio.get_running_loop()

        async def echo(reader, writer):
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
            writer.write_eof()
            await writer.drain()
            writer.close()

        target = await asyncio.start_server(echo, "127.0.0.1", 0, backlog=512)
        closed = []
        server = await pcp.aio.start_server(target.sockets[0].getsockname()[:2], "127.0.0.1", 0,
                                            backlog=512, on_close=closed.append)
        peak_open = 0

        async def one(i):
            nonlocal peak_open
            peer = await open_peer(server.addresses[0])
            peak_open = max(peak_open, len(server.connections))
            await peer.send(size, seed=i)
            await peer.eof
            peer.transport.close()
            return peer.data == b"".join(pattern(o, min(65536, size - o), i) for o in range(0, size, 65536))

        ok = await asyncio.gather(*(one(i) for i in range(n)))
        while len(closed) < n:
            await asyncio.sleep(0.01)
        totals = server.totals()
        server.close()
        await server.wait_closed()
        target.close()
        return ok, closed, totals, peak_open, loop

    ok, closed, totals, peak_open, _ = aio(main, timeout=50)
    assert ok == [True] * n
    assert sorted(c.number for c in closed) == list(range(1, n + 1))
    assert all(c.stats.up.bytes == c.stats.down.bytes == size for c in closed)
    assert all(c.stats.ended == "client closed" and c.stats.forwarded for c in closed)
    assert totals == pcp.aio.Totals(open=0, total=n, up=n * size, down=n * size, buffered=0,
                                    peak_buffered=totals.peak_buffered, pauses=totals.pauses)
    assert peak_open > 1  # they were concurrent


def test_target_refusing(aio):
    async def main():
        closed, opened = [], []
        server = await pcp.aio.start_server(("127.0.0.1", free_port()), "127.0.0.1", 0,
                                            on_open=opened.append, on_close=closed.append)
        peer = await open_peer(server.addresses[0])
        await peer.send(1000, eof=False)  # never read: the target is not there
        await asyncio.wait_for(peer.eof, 5)
        peer.transport.close()
        while not closed:
            await asyncio.sleep(0.01)
        server.close()
        await server.wait_closed()
        return opened, closed, server

    opened, closed, server = aio(main)
    assert opened == closed
    stats = closed[0].stats
    assert not stats.forwarded
    assert stats.ended.startswith("connecting to the target failed: "), stats.ended
    assert "refused" in stats.ended.lower()
    assert isinstance(stats.error, ConnectionRefusedError)
    assert stats.up.bytes == 0 and stats.up.received == 0  # the client was never read
    assert server.connections == {} and server.totals().total == 1


def test_connect_timeout(aio):
    async def main():
        # A listener whose backlog is full: connecting to it hangs (SYNs dropped).
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(0)
        fillers = []
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(blocker.getsockname())
            fillers.append(s)
        closed = []
        server = await pcp.aio.start_server(blocker.getsockname(), "127.0.0.1", 0, connect_timeout=0.3,
                                            on_close=closed.append)
        peer = await open_peer(server.addresses[0])
        await asyncio.wait_for(peer.eof, 5)
        while not closed:
            await asyncio.sleep(0.01)
        server.close()
        for s in fillers + [blocker]:
            s.close()
        peer.transport.close()
        return closed[0].stats

    stats = aio(main)
    assert stats.ended == "connecting to the target failed: timed out after 0.3s"
    assert 0.25 < stats.seconds < 3


def test_live_view_close_and_abort(aio):
    async def main():
        target, queue = await serve_peers()
        server = await pcp.aio.start_server(target.sockets[0].getsockname()[:2], "127.0.0.1", 0,
                                            buffer_size=128 * 1024)
        peer = await open_peer(server.addresses[0])
        far = await queue.get()
        far.transport.pause_reading()  # a stuck target: data piles up in the forwarder
        sending = asyncio.ensure_future(peer.send(64 * MiB, eof=False))
        (conn,) = server.connections.values()
        while conn.up.pauses == 0:
            await asyncio.sleep(0.01)
        live = (conn.forwarded, conn.client_address == peer.transport.get_extra_info("sockname"),
                conn.target_address == far.transport.get_extra_info("sockname"),
                conn.up.buffered, conn.up.peak_buffered, conn.up.queued, conn.up.received - conn.up.bytes)
        # close(): graceful, the target still gets everything the forwarder accepted.
        conn.close()
        far.transport.resume_reading()
        await far.eof
        stats = await conn.wait_closed()
        sending.cancel()
        # abort(): a second connection, dropped at once.
        peer2 = await open_peer(server.addresses[0])
        far2 = await queue.get()
        await peer2.send(1000, eof=False)
        while far2.count < 1000:
            await asyncio.sleep(0.01)
        (conn2,) = server.connections.values()
        server.abort_connections()
        stats2 = await conn2.wait_closed()
        await asyncio.gather(peer2.eof, far2.eof)
        server.close()
        await server.wait_closed()
        return live, stats, far, stats2, server

    live, stats, far, stats2, server = aio(main, timeout=30)
    forwarded, client_ok, target_ok, buffered, peak, queued, held = live
    assert forwarded and client_ok and target_ok
    assert buffered >= 128 * 1024 and peak >= buffered and queued > 0
    assert held == buffered  # what was read and not yet handed to the transport is pcp's buffer
    assert stats.ended == "closed by the forwarder"
    assert far.count == stats.up.bytes == stats.up.received
    assert far.hash.hexdigest() == stream_digest(far.count)
    assert stats2.ended == "aborted"
    assert not server.is_serving() and server.sockets == ()


def test_start_server_rejects_bad_arguments(aio):
    async def main():
        errors = []
        for kwargs in ({"connect": "127.0.0.1:80"}, {"connect": ("127.0.0.1", 0)},
                       {"connect": ("h", 1), "buffer_size": -1}, {"connect": ("h", 1), "connect_timeout": 0},
                       {"connect": ("h", 1), "low_water": 10, "buffer_size": 5}):
            try:
                await pcp.aio.start_server(**kwargs)
            except (TypeError, ValueError) as e:
                errors.append(str(e))
        return errors

    errors = aio(main)
    assert errors == [
        "connect must be a (host, port) tuple, got '127.0.0.1:80'",
        "connect port must be between 1 and 65535, got 0",
        "buffer_size must be at least 1, got -1",
        "connect_timeout must be positive or None, got 0",
        "low_water must be between 0 and buffer_size (5), got 10",
    ]


def test_client_reset_right_after_accept_leaves_nothing_open(aio):
    """A client that connects and resets at once, many times: every Connection ends.

    The reset can reach the server before the task connecting the target has
    run its first step; cancelling a task that has not started never runs its
    body, so the connection must be finished by other means (it stayed open
    forever on uvloop).
    """
    n = 300

    async def main():
        target = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, backlog=512)
        closed = []
        server = await pcp.aio.start_server(target.sockets[0].getsockname()[:2], "127.0.0.1", 0,
                                            backlog=512, on_close=closed.append)
        loop = asyncio.get_running_loop()
        address = server.addresses[0]
        for i in range(n):
            # Blocking connects complete in the kernel before the server
            # accepts: a batch is reset while still in the accept queue, and
            # the server meets each reset right after accepting it.
            sock = socket.socket()
            sock.connect(address)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # RST at once
            if i % 25 == 24:
                await asyncio.sleep(0.005)
        deadline = loop.time() + 10
        while (len(closed) < n or server.connections) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        left = dict(server.connections)
        server.close()
        server.abort_connections()
        await asyncio.wait_for(server.wait_closed(), 5)
        target.close()
        return left, closed, server.accepted

    left, closed, accepted = aio(main, timeout=40)
    assert accepted == n
    assert left == {}, f"{len(left)} connections still open, e.g. {next(iter(left.values()))!r}"
    assert len(closed) == n
    assert all(c.done for c in closed)


def test_client_lost_before_the_connect_task_starts(aio):
    """The client's transport goes before the task connecting the target has run a step.

    ``on_open`` aborts the client's transport: its ``connection_lost`` is
    queued before the connect task's first step, as when a reset is read in
    the turn the client was accepted. The task is cancelled before it
    starts, so its body never runs: the connection must end all the same,
    with nothing reported to the loop's exception handler.
    """
    n = 50

    async def main():
        target = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        closed = []
        server = await pcp.aio.start_server(target.sockets[0].getsockname()[:2], "127.0.0.1", 0,
                                            on_open=lambda conn: conn.client.transport.abort(),
                                            on_close=closed.append)
        loop = asyncio.get_running_loop()
        peers = [await open_peer(server.addresses[0]) for _ in range(n)]
        deadline = loop.time() + 5
        while (len(closed) < n or server.connections) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        left = dict(server.connections)
        for peer in peers:
            peer.transport.abort()
        server.close()
        server.abort_connections()
        await asyncio.wait_for(server.wait_closed(), 5)
        target.close()
        return left, closed

    left, closed = aio(main, timeout=30)
    assert left == {}, f"{len(left)} connections still open, e.g. {next(iter(left.values()))!r}"
    assert len(closed) == n
    assert all(c.stats.ended.startswith("client") and not c.stats.forwarded for c in closed)


def test_finished_connections_leave_no_cycles(aio):
    """A finished connection is freed by reference counting: none of pcp's objects wait for the GC.

    Each used to leave some 35 objects in reference cycles (sides and their
    connection, the consumers' bound writes and callbacks, the producers'
    transports): collecting them cost a fifth of a short connection's CPU.
    """
    import gc

    from pcp.aio import adapters, connection

    ours = (connection.Connection, connection._SideBase, adapters.TransportConsumer,
            adapters.TransportProducer, pcp.ProducerConsumerProxy)

    async def main():
        echo = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        closed = []
        server = await pcp.aio.start_server(echo.sockets[0].getsockname()[:2], "127.0.0.1", 0,
                                            on_close=lambda conn: closed.append(conn.stats))
        loop = asyncio.get_running_loop()
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(20):
                peer = await open_peer(server.addresses[0])
                await peer.eof
                peer.transport.close()
                await peer.lost
            deadline = loop.time() + 5
            while len(closed) < 20 and loop.time() < deadline:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            gc.collect()
            cyclic = [type(o).__name__ for o in gc.garbage if isinstance(o, ours)]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
        server.close()
        await server.wait_closed()
        echo.close()
        return cyclic, closed

    cyclic, closed = aio(main, timeout=30)
    assert len(closed) == 20 and all(s.forwarded for s in closed)
    assert cyclic == []


def test_start_server_on_a_socket_of_ones_own(aio):
    async def main():
        echo = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        target = echo.sockets[0].getsockname()[:2]
        sock = socket.create_server(("127.0.0.1", 0))
        address = sock.getsockname()
        with pytest.raises(ValueError, match="not both"):
            await pcp.aio.start_server(target, "127.0.0.1", sock=sock)
        with pytest.raises(TypeError, match="socket.socket"):
            await pcp.aio.start_server(target, sock=sock.fileno())
        closed = []
        server = await pcp.aio.start_server(target, sock=sock, on_close=closed.append)
        assert server.addresses == [address]
        peer = await open_peer(address)
        await peer.eof  # the target closed: its end-of-file came through
        peer.transport.close()
        while not closed:
            await asyncio.sleep(0.01)
        server.close()
        await server.wait_closed()
        echo.close()
        return closed[0].stats, sock.fileno()

    stats, fileno = aio(main)
    assert stats.forwarded and stats.ended == "target closed"
    assert fileno == -1  # closed with the server


def test_target_made_after_the_abort_and_its_connect_cancelled_still_ends(aio):
    """The connection is aborted while its target connects; the target's transport is then made
    and the connect task cancelled before it resumes.

    uvloop's create_connection closes such a transport's handle directly:
    its connection_lost never comes (about 1 in 25 "second signal while
    connecting" runs of pcp-forward on uvloop waited for it in vain). The
    connection must not wait for it.
    """

    async def main():
        loop = asyncio.get_running_loop()
        target = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        ls = socket.create_server(("127.0.0.1", 0))
        ls.setblocking(False)
        client_sock = socket.socket()
        client_sock.setblocking(False)
        accepted, _ = await asyncio.gather(loop.sock_accept(ls), loop.sock_connect(client_sock, ls.getsockname()))
        conn = pcp.aio.Connection(loop)
        await loop.connect_accepted_socket(lambda: conn.client, accepted[0])
        host, port = target.sockets[0].getsockname()[:2]
        task = loop.create_task(loop.create_connection(lambda: conn.target, host, port))
        made = conn.target.connection_made

        def connection_made(transport):
            conn.abort()  # the second signal: dead before the target's transport is made
            task.cancel()  # the connect, cut too: it has not resumed yet
            made(transport)

        conn.target.connection_made = connection_made
        with pytest.raises(asyncio.CancelledError):
            await task
        stats = await asyncio.wait_for(conn.wait_closed(), 5)
        client_sock.close()
        ls.close()
        target.close()
        return stats

    stats = aio(main)
    assert stats.ended == "aborted" and not stats.forwarded
