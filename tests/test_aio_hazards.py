"""The asyncio hazards pcp.aio guards against, each shown failing on the naive approach.

1. Mutable buffers: asyncio's transports keep a reference to a queued buffer
   (Python 3.12+, uvloop), so a bytearray changed after ``write()`` reaches
   the peer changed. Naive: ``transport.write(bytearray)``. pcp.aio: the
   adapter (and a proxy in front of it) hand the transport bytes.
2. Small writes while the transport is paused: Python 3.12-3.14's selector
   transport sums its whole queue on every ``write()``, so N small writes
   queued behind a full socket cost O(N) each. Naive: ``transport.write`` per
   message. pcp.aio: the paused proxy coalesces them in pcp's ring (O(1)
   each) and hands the transport one write on resume.
3. Transport limits: uvloop's default low-water mark is 16 bytes (a paused
   producer resumes only once the queue is empty), asyncio's 16 KiB whatever
   pcp's marks. Naive: the loop's defaults. pcp.aio: the transport's limits
   are pcp's marks.
(4. One buffer, not two: tests/test_aio_flow.py.)

Each hazard has a checker; the pcp.aio variant passes it, the naive one is
shown to fail it (skipped, with the reason, where the loop at hand has no
such hazard: a naive write is safe on asyncio before 3.12, which copies).
"""

import asyncio
import sys
import time

import pytest
from aio_support import MiB, aio, forward_endpoints, pattern, serve_peers  # noqa: F401

import pcp
import pcp.aio
from pcp.aio import TransportConsumer, set_limits

SHARES_QUEUED_BUFFERS = {"uvloop": True, "asyncio": sys.version_info >= (3, 12)}


class Relay(asyncio.Protocol):
    """The writing side's protocol: relays flow control to a TransportConsumer."""

    def __init__(self):
        self.consumer = None

    def connection_made(self, transport):
        self.transport = transport

    def pause_writing(self):
        if self.consumer is not None:
            self.consumer.pause_writing()

    def resume_writing(self):
        if self.consumer is not None:
            self.consumer.resume_writing()


class CountingConsumer(TransportConsumer):
    """The real adapter, counting the writes it hands the transport."""

    writes = 0

    def write(self, data):
        self.writes += 1
        super().write(data)


async def stuck_transport(consumer=None):
    """(transport, Relay, peer): the peer does not read and the transport's own queue is not empty."""
    loop = asyncio.get_running_loop()
    server, queue = await serve_peers(rcvbuf=32 * 1024)
    _, relay = await loop.create_connection(Relay, *server.sockets[0].getsockname())
    peer = await queue.get()
    peer.transport.pause_reading()
    relay.consumer = consumer
    transport = relay.transport
    filled = 0
    while transport.get_write_buffer_size() <= 256 * 1024:
        transport.write(pattern(filled, 64 * 1024, 1))
        filled += 64 * 1024
        await asyncio.sleep(0)
    return transport, relay, peer, server, filled


# -- 1. mutable buffers ----------------------------------------------------------------------


def mutable_buffer_run(aio, variant):
    size = 100_000

    async def main():
        consumer = TransportConsumer()
        transport, relay, peer, server, filled = await stuck_transport(consumer)
        consumer.attach(transport)
        data = bytearray(b"A" * size)
        if variant == "naive":
            transport.write(data)
        elif variant == "adapter":
            consumer.write(data)
        else:  # a pcp proxy in front of the adapter (what forward() runs)
            proxy = pcp.ProducerConsumerProxy(consumer)
            proxy.write(data)
            proxy.resumeProducing()
        data[:] = b"B" * size  # the caller reuses its buffer
        peer.transport.resume_reading()
        transport.write_eof()
        await peer.eof
        server.close()
        return peer.data[filled:]

    return aio(main)


def check_what_arrives_is_what_was_written(received):
    assert received == b"A" * 100_000, f"the peer received {received[:8]!r}... : the buffer changed after write()"


@pytest.mark.parametrize("variant", ["adapter", "proxy"])
def test_mutable_buffer_pcp(aio, variant):
    check_what_arrives_is_what_was_written(mutable_buffer_run(aio, variant))


def test_mutable_buffer_naive_fails(aio):
    if not SHARES_QUEUED_BUFFERS[aio.kind]:
        pytest.skip(f"{aio.kind} on Python {sys.version_info[0]}.{sys.version_info[1]} copies queued "
                    "buffers: the naive write is safe here (3.12+ and uvloop share them)")
    with pytest.raises(AssertionError, match="the buffer changed after write"):
        check_what_arrives_is_what_was_written(mutable_buffer_run(aio, "naive"))


# -- 2. small writes while the transport is paused ----------------------------------------


N, SMALL = 5_000, 64  # on Python 3.13 the naive variant's last writes cost ~150 us each here


def small_writes_run(aio, variant):
    async def main():
        consumer = CountingConsumer()
        transport, relay, peer, server, filled = await stuck_transport(consumer)
        set_limits(transport, high=64 * 1024, low=16 * 1024)
        consumer.attach(transport)
        consumer.pause_writing()  # as the transport did (its queue is past the high mark)
        proxy = pcp.ProducerConsumerProxy(consumer)
        proxy.bufferSize = 1 << 30
        queued = transport.get_write_buffer_size()
        write = proxy.write if variant == "pcp" else consumer.write
        messages = [pattern(i * SMALL, SMALL, 2) for i in range(N)]
        times = []
        for i, message in enumerate(messages):
            if i >= N - 1000:
                t0 = time.perf_counter()
                write(message)
                times.append(time.perf_counter() - t0)
            else:
                write(message)
        result = {
            "transport_writes": consumer.writes,
            "queue_growth": transport.get_write_buffer_size() - queued,
            "held_by_pcp": proxy.bufferedBytes,
            "late_write_us": sorted(times)[len(times) // 2] * 1e6,
        }
        peer.transport.resume_reading()
        while consumer.paused:
            await asyncio.sleep(0.001)
        transport.write_eof()
        await peer.eof
        result["transport_writes_total"] = consumer.writes
        result["in_order"] = peer.data[filled:] == b"".join(messages)
        server.close()
        return result

    return aio(main)


def check_small_writes_coalesced(result):
    assert result["in_order"]
    assert result["transport_writes"] == 0 and result["queue_growth"] == 0, (
        f"{result['transport_writes']} small writes went to the paused transport's queue "
        f"(it grew by {result['queue_growth']} bytes): each costs O(queue) on Python 3.12+")
    assert result["held_by_pcp"] == N * SMALL
    assert result["transport_writes_total"] <= 2, "pcp handed the transport more than one write per resume"
    # O(1) each: the last 1,000 writes, made behind 4,000 queued messages, are as cheap as any.
    assert result["late_write_us"] < 20, f"{result['late_write_us']:.1f} us per write behind a full queue"


def test_small_writes_while_paused_pcp(aio):
    check_small_writes_coalesced(small_writes_run(aio, "pcp"))


def test_small_writes_while_paused_naive_fails(aio):
    with pytest.raises(AssertionError, match="small writes went to the paused transport"):
        check_small_writes_coalesced(small_writes_run(aio, "naive"))


# -- 3. the transport's limits follow pcp's marks ---------------------------------------------


def limits_run(aio, variant, buffer_size, low_water):
    async def main():
        client, a, b, target, server = await forward_endpoints()
        loop = asyncio.get_running_loop()
        if variant == "naive":
            ta, _ = await loop.connect_accepted_socket(asyncio.Protocol, a)
            tb, _ = await loop.connect_accepted_socket(asyncio.Protocol, b)
            limits = [ta.get_write_buffer_limits(), tb.get_write_buffer_limits()]
            ta.close()
            tb.close()
        else:
            async with pcp.aio.forwarding(a, b, buffer_size=buffer_size, low_water=low_water) as conn:
                limits = [conn.client.transport.get_write_buffer_limits(),
                          conn.target.transport.get_write_buffer_limits()]
        server.close()
        return limits

    return aio(main)


def check_limits(limits, buffer_size, low):
    assert limits == [(low, buffer_size)] * 2, (
        f"the transports' (low, high) limits are {limits}, not pcp's marks {(low, buffer_size)}")


@pytest.mark.parametrize("buffer_size, low_water", [(65536, None), (256 * 1024, 32 * 1024), (1 << 20, 0)])
def test_transport_limits_follow_pcp_marks(aio, buffer_size, low_water):
    low = buffer_size // 4 if low_water is None else low_water
    check_limits(limits_run(aio, "pcp", buffer_size, low_water), buffer_size, low)


def test_transport_limits_naive_fails(aio):
    limits = limits_run(aio, "naive", 256 * 1024, 32 * 1024)
    if aio.kind == "uvloop":
        assert limits[0] == (16, 65536)  # the 16-byte low-water mark the issue measured
    with pytest.raises(AssertionError, match="not pcp's marks"):
        check_limits(limits, 256 * 1024, 32 * 1024)


def test_transport_limits_naive_uvloop_default_marks_fail(aio):
    """On uvloop even pcp's default marks differ from the loop's: its low-water mark is 16 bytes."""
    if aio.kind != "uvloop":
        pytest.skip("asyncio's defaults (16 KiB, 64 KiB) happen to equal pcp's default marks")
    with pytest.raises(AssertionError, match="not pcp's marks"):
        check_limits(limits_run(aio, "naive", 65536, None), 65536, 16384)
