"""pcp.aio.forward over real TCP on 127.0.0.1, on asyncio and on uvloop.

Endpoints: ``client`` (a Peer connected to a listener whose accepted socket
is ``a``) and ``target`` (a Peer accepted by a server that ``b`` connects
to); ``pcp.aio.forward(a, b)`` joins them.
"""

import asyncio
import socket

import pytest
from aio_support import MiB, aio, forward_endpoints, pattern, reset, stream_digest  # noqa: F401

import pcp.aio


async def endpoints(**peer_kwargs):
    """(client Peer, a, b, target Peer, target server)."""
    return await forward_endpoints(**peer_kwargs)


def test_32_mib_each_way_sha256(aio):
    total = 32 * MiB

    async def main():
        client, a, b, target, server = await endpoints(keep=False)
        fwd = asyncio.ensure_future(pcp.aio.forward(a, b))
        await asyncio.gather(client.send(total, seed=1), target.send(total, seed=2))
        await asyncio.gather(client.eof, target.eof)
        for peer in (client, target):
            peer.transport.close()
        stats = await fwd
        server.close()
        return client, target, stats

    client, target, stats = aio(main, timeout=40)
    assert target.count == client.count == total
    assert target.hash.hexdigest() == stream_digest(total, seed=1)
    assert client.hash.hexdigest() == stream_digest(total, seed=2)
    assert stats.up.bytes == stats.up.received == total
    assert stats.down.bytes == stats.down.received == total
    assert stats.up.buffered == stats.down.buffered == 0
    assert stats.forwarded and stats.error is None
    assert stats.ended in ("a closed", "b closed")


@pytest.mark.parametrize("first", ["client", "target"])
def test_half_close_each_direction(aio, first):
    """The side that sends end-of-file first still receives everything the other sends after."""

    async def main():
        client, a, b, target, server = await endpoints()
        fwd = asyncio.ensure_future(pcp.aio.forward(a, b))
        one, other = (client, target) if first == "client" else (target, client)
        await one.send(300_000, seed=3)  # then write_eof
        await other.eof
        assert other.data == b"".join(pattern(o, min(65536, 300_000 - o), 3) for o in range(0, 300_000, 65536))
        assert not other.lost.done()
        # The half-closed side keeps receiving: the other answers after end-of-file.
        await other.send(200_000, seed=4)
        await one.eof
        # Both directions done: the forwarder closes both connections by itself.
        stats = await fwd
        for peer in (one, other):
            peer.transport.close()
        lost = await asyncio.gather(one.lost, other.lost)
        server.close()
        return one, lost, stats

    one, lost, stats = aio(main)
    assert one.count == 200_000 and one.hash.hexdigest() == stream_digest(200_000, seed=4)
    assert lost == [None, None]
    assert stats.ended == ("a closed" if first == "client" else "b closed")
    assert (stats.up.bytes, stats.down.bytes) == ((300_000, 200_000) if first == "client" else (200_000, 300_000))


def test_no_half_close_closes_both_after_the_data(aio):
    async def main():
        client, a, b, target, server = await endpoints()
        fwd = asyncio.ensure_future(pcp.aio.forward(a, b, half_close=False))
        await client.send(100_000, seed=5)
        await target.eof
        stats = await fwd  # both closed by the forwarder, though the target never sent end-of-file
        await client.eof
        server.close()
        return target, stats

    target, stats = aio(main)
    assert target.count == 100_000 and target.hash.hexdigest() == stream_digest(100_000, seed=5)
    assert stats.ended == "a closed"


@pytest.mark.parametrize("who", ["client", "target"])
def test_peer_reset_mid_transfer(aio, who):
    """A reset side ends the forwarding; the other gets a prefix of the data, then its connection closes."""

    async def main():
        client, a, b, target, server = await endpoints()
        fwd = asyncio.ensure_future(pcp.aio.forward(a, b, buffer_size=64 * 1024))
        sender, receiver = (client, target) if who == "client" else (target, client)
        receiver.slow(4 * MiB)  # slow enough for the forwarder to hold data when the reset comes
        sending = asyncio.ensure_future(sender.send(64 * MiB, seed=6, eof=False))
        # The other way too: what reaches the forwarder for the reset side after it is gone
        # is dropped and counted, never raised.
        answering = asyncio.ensure_future(receiver.send(64 * MiB, seed=7, eof=False))
        while receiver.count < 512 * 1024:
            await asyncio.sleep(0.005)
        reset(sender.transport)
        with pytest.raises(ConnectionError):
            await sending
        receiver.slow(0)
        receiver.transport.resume_reading()
        await receiver.eof  # the forwarder half-closed it, after what it was owed...
        answering.cancel()
        receiver.transport.write_eof()  # ...and closes it once it has ended too
        stats = await fwd
        receiver.transport.close()
        server.close()
        return receiver, stats

    receiver, stats = aio(main)
    assert 512 * 1024 <= receiver.count < 64 * MiB
    assert receiver.data == b"".join(pattern(o, min(MiB, receiver.count - o), 6) for o in range(0, receiver.count, MiB))
    name = "a" if who == "client" else "b"
    assert stats.ended.startswith(f"{name} lost") or stats.ended == f"{name} closed", stats.ended
    direction = stats.up if who == "client" else stats.down
    # What the reset side sent before it reset reached the other side (nothing dropped by the forwarder).
    assert direction.bytes == receiver.count == direction.received
    back = stats.down if who == "client" else stats.up
    # Every byte accounted for: what the reset side can no longer get is dropped and counted.
    assert back.received == back.bytes + back.buffered and back.discarded > 0


def test_cancelling_forward_aborts_both_sides(aio):
    async def main():
        client, a, b, target, server = await endpoints(keep=False)
        fwd = asyncio.ensure_future(pcp.aio.forward(a, b))
        sending = asyncio.ensure_future(client.send(1 << 40, eof=False))
        while target.count < MiB:
            await asyncio.sleep(0.005)
        fwd.cancel()
        with pytest.raises(asyncio.CancelledError):
            await fwd
        cancelled_at = asyncio.get_running_loop().time()
        # Both peers see the forwarder's sockets go away at once.
        await asyncio.wait_for(asyncio.gather(client.eof, target.eof), 5)
        took = asyncio.get_running_loop().time() - cancelled_at
        sending.cancel()
        server.close()
        return a, b, took

    a, b, took = aio(main)
    assert took < 2
    assert (a.fileno(), b.fileno()) == (-1, -1)  # closed by the loop, which owned them


def test_leaving_the_block_aborts_and_closing_is_graceful(aio):
    async def main():
        client, a, b, target, server = await endpoints()
        async with pcp.aio.forwarding(a, b) as conn:
            await client.send(10_000, eof=False)
            while target.count < 10_000:
                await asyncio.sleep(0.005)
            live = (conn.up.bytes, conn.down.bytes, conn.forwarded, conn.done)
        after = conn.done, conn.stats.ended
        await asyncio.gather(client.eof, target.eof)
        # The graceful form: both ends are closed once they have what they are owed.
        client2, a2, b2, target2, server2 = await endpoints()
        async with pcp.aio.forwarding(a2, b2) as conn2:
            await client2.send(200_000, seed=8, eof=False)
            target2.transport.pause_reading()
            await asyncio.sleep(0.05)
            conn2.close()
            target2.transport.resume_reading()
            stats2 = await conn2.wait_closed()
        await target2.eof
        server.close()
        server2.close()
        return live, after, stats2, target2

    live, after, stats2, target2 = aio(main)
    assert live == (10_000, 0, True, False)
    assert after == (True, "aborted")
    assert stats2.ended == "closed by the forwarder"
    assert target2.count == 200_000 and target2.hash.hexdigest() == stream_digest(200_000, seed=8)


def test_bad_arguments_raise_clear_errors(aio):
    async def main():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t = socket.socket()
        errors = []
        for call in (
            lambda: pcp.aio.forward(b"x", t),
            lambda: pcp.aio.forward(s, t),
            lambda: pcp.aio.forward(t, t),
            lambda: pcp.aio.forward(t, socket.socket(), buffer_size=0),
            lambda: pcp.aio.forward(t, socket.socket(), buffer_size=100, low_water=101),
            lambda: pcp.aio.forward(t, socket.socket(), buffer_size="64K"),
        ):
            try:
                await call()
            except (TypeError, ValueError) as e:
                errors.append(type(e).__name__ + ": " + str(e))
        s.close()
        t.close()
        return errors

    errors = aio(main)
    assert len(errors) == 6, errors
    assert "must be a connected socket.socket, not bytes" in errors[0]
    assert "SOCK_STREAM" in errors[1]
    assert "two different sockets" in errors[2]
    assert "buffer_size must be at least 1" in errors[3]
    assert "low_water must be between 0 and buffer_size (100), got 101" in errors[4]
    assert "buffer_size must be an int, not str" in errors[5]
