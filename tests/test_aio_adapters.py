"""TransportConsumer and TransportProducer on real asyncio and uvloop transports.

``pcp.ProducerConsumerProxy`` joined to asyncio connections by the adapters
alone (no pcp.aio.forward), and the adapters' contract: errors, attach order,
finish, pause/resume/stop.
"""

import asyncio

import pytest
from aio_support import MiB, Peer, aio, serve_peers, stream_digest  # noqa: F401

import pcp
from pcp.aio import TransportConsumer, TransportProducer, set_limits


class Source(asyncio.Protocol):
    """A connection whose reads go into a pcp proxy, its flow control relayed to an adapter."""

    def __init__(self):
        self.proxy = None
        self.eof = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.proxy.write(data)

    def eof_received(self):
        self.eof.set_result(None)
        self.proxy.finish()
        return True


class Sink(asyncio.Protocol):
    def __init__(self):
        self.consumer = TransportConsumer()

    def connection_made(self, transport):
        self.consumer.attach(transport)

    def pause_writing(self):
        self.consumer.pause_writing()

    def resume_writing(self):
        self.consumer.resume_writing()

    def connection_lost(self, exc):
        self.consumer.connection_lost()


def test_proxy_between_two_asyncio_connections(aio):
    """The existing ProducerConsumerProxy, unchanged, between two connections: 8 MiB to a slow reader."""
    total = 8 * MiB

    async def main():
        loop = asyncio.get_running_loop()
        far_server, far_queue = await serve_peers(rcvbuf=32 * 1024, keep=False)
        _, sink = await loop.create_connection(Sink, *far_server.sockets[0].getsockname())
        far = await far_queue.get()
        far.slow(32 * MiB)
        near_server, near_queue = await serve_peers()
        _, source = await loop.create_connection(Source, *near_server.sockets[0].getsockname())
        sender = await near_queue.get()
        set_limits(sink.consumer.transport, high=128 * 1024, low=32 * 1024)
        proxy = pcp.ProducerConsumerProxy(sink.consumer)
        proxy.bufferSize = 128 * 1024
        proxy.registerProducer(TransportProducer(source.transport), True)
        source.proxy = proxy
        await sender.send(total, seed=21)
        await far.eof  # the proxy's finish() half-closed the sink's connection once drained
        result = (far.count, far.hash.hexdigest(), proxy.producerPauses, proxy.peakBufferedBytes)
        for t in (source.transport, sink.consumer.transport, far.transport, sender.transport):
            if t is not None:
                t.close()
        far_server.close()
        near_server.close()
        return result

    count, digest, pauses, peak = aio(main, timeout=30)
    assert count == total and digest == stream_digest(total, seed=21)
    assert pauses > 0 and peak <= 128 * 1024 + 256 * 1024


def test_consumer_contract(aio):
    async def main():
        loop = asyncio.get_running_loop()
        server, queue = await serve_peers()
        transport, _ = await loop.create_connection(asyncio.Protocol, *server.sockets[0].getsockname())
        peer = await queue.get()
        consumer = TransportConsumer()
        errors = []
        try:
            consumer.write(b"x")
        except RuntimeError as e:
            errors.append(str(e))
        proxy = pcp.ProducerConsumerProxy(consumer)  # registers itself; paused: no transport yet
        proxy.write(b"early ")
        state = [proxy.bufferedBytes]
        for bad in (lambda: consumer.registerProducer(object(), True),
                    lambda: TransportConsumer().registerProducer(object(), False),
                    lambda: consumer.attach(transport) or consumer.attach(transport),
                    lambda: consumer.write("text")):
            try:
                bad()
            except (RuntimeError, TypeError) as e:
                errors.append(f"{type(e).__name__}: {e}")
        state.append(proxy.bufferedBytes)  # attached: the proxy was resumed and flushed
        proxy.write(bytearray(b"late"))
        proxy.finish()
        await peer.eof
        state.append(consumer.finished)
        consumer.connection_lost()
        try:
            consumer.write(b"x")
        except RuntimeError as e:
            errors.append(str(e))
        transport.close()
        server.close()
        return errors, state, peer.data

    errors, state, data = aio(main)
    assert "no transport is attached yet" in errors[0]
    assert errors[1].startswith("RuntimeError: Cannot register producer")
    assert errors[2].startswith("TypeError: TransportConsumer takes push producers only")
    assert errors[3].startswith("RuntimeError:") and "attached to" in errors[3]
    assert errors[4] == "TypeError: data must be a bytes-like object, not str"
    assert "its connection was lost" in errors[5]
    assert state == [6, 0, True]
    assert data == b"early late"


def test_producer_pauses_resumes_and_stops_reading(aio):
    async def main():
        loop = asyncio.get_running_loop()
        server, queue = await serve_peers()
        got = []
        lost = loop.create_future()

        class Reader(asyncio.Protocol):
            def data_received(self, data):
                got.append(data)

            def connection_lost(self, exc):
                lost.set_result(exc)

        transport, _ = await loop.create_connection(Reader, *server.sockets[0].getsockname())
        peer = await queue.get()
        producer = TransportProducer()
        producer.pauseProducing()  # before a transport: applied on attach
        producer.attach(transport)
        peer.transport.write(b"a")
        await asyncio.sleep(0.1)
        paused = list(got)
        producer.resumeProducing()
        await asyncio.sleep(0.1)
        resumed = list(got)
        producer.stopProducing()  # the consumer died: the connection is aborted
        await asyncio.wait_for(lost, 5)
        await peer.eof
        server.close()
        return paused, resumed, producer.reading, producer.stopped

    assert aio(main) == ([], [b"a"], False, True)


def test_set_limits_checks_its_marks(aio):
    async def main():
        loop = asyncio.get_running_loop()
        server, queue = await serve_peers()
        transport, _ = await loop.create_connection(asyncio.Protocol, *server.sockets[0].getsockname())
        set_limits(transport, high=1000, low=10)
        limits = transport.get_write_buffer_limits()
        with pytest.raises(ValueError, match="need 0 <= low <= high"):
            set_limits(transport, high=10, low=1000)
        transport.close()
        server.close()
        return limits

    assert aio(main) == (10, 1000)
