"""Flow control through pcp.aio.forward with a slow reader, on asyncio and on uvloop.

The target reads at a fraction of the sender's speed, behind small kernel
buffers, so the forwarder must hold data and stop reading the client. Each
loop turn a sampler records pcp's buffer and the target transport's queue.

Checked: pcp's buffer never exceeds the high-water mark plus one read, the
transport's queue never exceeds the high mark plus the low mark plus one
read, every byte arrives in order; and "one buffer, not two": whenever the
target transport wants data, pcp holds nothing (what it reads goes straight
on, and a resume hands over everything held in one write). A naive
forwarder, written here, that keeps its own buffer and drains it in 64 KiB
pieces a loop turn at a time (the usual hand-written relay), fails that check.
"""

import asyncio
import collections

import pytest
from aio_support import MiB, aio, forward_endpoints, stream_digest  # noqa: F401

import pcp.aio

TOTAL = 6 * MiB
RATE = 12 * MiB  # the target's reading speed, bytes/s
KERNEL = 32 * 1024  # SO_RCVBUF of the target, SO_SNDBUF of the forwarder's target socket


class Sampler:
    """Calls *probe* on every loop turn until stopped; keeps what it returns."""

    def __init__(self, probe):
        self.probe = probe
        self.samples = []
        self.loop = asyncio.get_running_loop()
        self.running = True
        self.loop.call_soon(self._tick)

    def _tick(self):
        if self.running:
            self.samples.append(self.probe())
            self.loop.call_soon(self._tick)


async def slow_transfer(make_forwarder, read_size=None):
    """Send TOTAL bytes client -> target through the forwarder, the target reading at RATE."""
    client, a, b, target, server = await forward_endpoints(rcvbuf=KERNEL, sndbuf=KERNEL, keep=False)
    target.slow(RATE)
    fwd, probe = await make_forwarder(a, b)
    sampler = Sampler(probe)
    await client.send(TOTAL, seed=11)
    await target.eof
    sampler.running = False
    for peer in (client, target):
        peer.transport.close()
    stats = await fwd
    server.close()
    return target, stats, sampler.samples


def pcp_forwarder(buffer_size, low_water=None, read_size=None):
    async def make(a, b):
        ready = asyncio.get_running_loop().create_future()

        async def run():
            async with pcp.aio.forwarding(a, b, buffer_size=buffer_size, low_water=low_water,
                                          read_size=read_size) as conn:
                ready.set_result(conn)
                return await conn.wait_closed()

        fwd = asyncio.ensure_future(run())
        conn = await ready
        consumer = conn.target.consumer

        def probe():
            return (not consumer.paused, conn.up.buffered, conn.up.queued)

        return fwd, probe

    return make


class NaiveRelay(asyncio.Protocol):
    """One side of the naive forwarder: its own deque, drained 64 KiB per loop turn."""

    def __init__(self, buffer_size):
        self.buffer_size = buffer_size
        self.out = collections.deque()  # what waits for the other side
        self.held = 0
        self.peer = None
        self.transport = None
        self.paused = False
        self.scheduled = False
        self.loop = asyncio.get_running_loop()
        self.lost = self.loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        transport.set_write_buffer_limits(high=self.buffer_size, low=self.buffer_size // 4)

    def data_received(self, data):
        peer = self.peer
        peer.out.append(data)
        peer.held += len(data)
        if peer.held >= self.buffer_size:
            self.transport.pause_reading()
        peer.kick()

    def kick(self):
        if not self.paused and not self.scheduled and self.out:
            self.scheduled = True
            self.loop.call_soon(self.drain_some)

    def drain_some(self):
        self.scheduled = False
        piece = b""
        while self.out and len(piece) < 65536 and not self.paused:
            piece += self.out.popleft()
        if piece:
            self.held -= len(piece)
            self.transport.write(piece)
            if self.held < self.buffer_size // 4 and not self.peer.transport.is_closing():
                self.peer.transport.resume_reading()
        self.kick()
        if not self.out and self.peer.eof:
            self.transport.write_eof()

    def pause_writing(self):
        self.paused = True

    def resume_writing(self):
        self.paused = False
        self.kick()

    eof = False

    def eof_received(self):
        self.eof = True
        self.peer.kick()
        if not self.peer.out:
            self.peer.transport.write_eof()
        if self.peer.eof:  # both ways done
            self.transport.close()
            self.peer.transport.close()
        return True

    def connection_lost(self, exc):
        self.lost.set_result(exc)
        self.peer.transport.abort()


def naive_forwarder(buffer_size):
    async def make(a, b):
        loop = asyncio.get_running_loop()
        one, two = NaiveRelay(buffer_size), NaiveRelay(buffer_size)
        one.peer, two.peer = two, one
        await loop.connect_accepted_socket(lambda: one, a)
        await loop.connect_accepted_socket(lambda: two, b)

        async def run():
            await asyncio.gather(one.lost, two.lost)
            up = pcp.aio.DirectionStats(0, 0, 0, 0, 0, 0, 0)
            return pcp.aio.ForwardStats(up, up, "closed", None, 0.0, True)

        def probe():
            return (not two.paused, two.held, two.transport.get_write_buffer_size())

        return asyncio.ensure_future(run()), probe

    return make


def check_one_buffer(samples):
    """Whenever the destination transport wants data, the forwarder holds none."""
    wanting = [held for wants, held, _ in samples if wants]
    assert wanting, "the transport never wanted data: the sampler saw nothing"
    holding = [held for held in wanting if held]
    assert not holding, (f"held data while the transport wanted it on {len(holding)} of "
                         f"{len(wanting)} loop turns (up to {max(holding)} bytes)")


@pytest.mark.parametrize("read_size", [None, 16 * 1024])
def test_slow_reader_buffer_bounded_by_high_water_plus_one_read(aio, read_size):
    buffer_size = 128 * 1024
    low = buffer_size // 4
    target, stats, samples = aio(lambda: slow_transfer(pcp_forwarder(buffer_size, read_size=read_size)),
                                 timeout=30)
    assert target.count == TOTAL and target.hash.hexdigest() == stream_digest(TOTAL, seed=11)
    read = read_size or 256 * 1024  # the loop's own read size (asyncio's max_size, uvloop's buffer)
    assert stats.up.pauses > 0, "the slow reader never made pcp pause the client"
    assert buffer_size <= stats.up.peak_buffered <= buffer_size + read
    assert max(s[1] for s in samples) <= buffer_size + read
    assert max(s[2] for s in samples) <= buffer_size + low + read
    check_one_buffer(samples)


def test_one_buffer_not_two_pcp(aio):
    target, stats, samples = aio(lambda: slow_transfer(pcp_forwarder(256 * 1024)), timeout=30)
    assert target.count == TOTAL and target.hash.hexdigest() == stream_digest(TOTAL, seed=11)
    check_one_buffer(samples)


def test_one_buffer_not_two_naive_fails(aio):
    target, stats, samples = aio(lambda: slow_transfer(naive_forwarder(256 * 1024)), timeout=30)
    assert target.count == TOTAL and target.hash.hexdigest() == stream_digest(TOTAL, seed=11)
    with pytest.raises(AssertionError, match="held data while the transport wanted it"):
        check_one_buffer(samples)
