"""pcp's ProducerConsumerProxy between two asyncio connections, with the adapters only.

What pcp.aio.forward does for you, spelled out for one direction: the
upstream connection's reads go into a ``pcp.ProducerConsumerProxy``; the proxy
writes to the downstream transport through a ``TransportConsumer``, whose
protocol relays ``pause_writing``/``resume_writing``; the upstream transport
is the proxy's push producer through a ``TransportProducer``. The downstream
reader is slow, so the proxy pauses the upstream at its high-water mark.
"""

import asyncio
import hashlib
import os

import pcp
from pcp.aio import TransportConsumer, TransportProducer, set_limits

TOTAL = 8 << 20
DATA = os.urandom(TOTAL)


class Downstream(asyncio.Protocol):
    """The connection the proxy writes to: relays its flow control to the adapter."""

    def __init__(self) -> None:
        self.consumer = TransportConsumer()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.consumer.attach(transport)  # type: ignore[arg-type]

    def pause_writing(self) -> None:
        self.consumer.pause_writing()

    def resume_writing(self) -> None:
        self.consumer.resume_writing()

    def connection_lost(self, exc: object) -> None:
        self.consumer.connection_lost()


class Upstream(asyncio.Protocol):
    """The connection the proxy reads from."""

    proxy: pcp.ProducerConsumerProxy

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.proxy.write(data)

    def eof_received(self) -> bool:
        self.proxy.finish()  # once drained: write_eof() downstream
        return True


async def slow_reader(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, done: asyncio.Future) -> None:
    got = hashlib.sha256()
    while data := await reader.read(64 * 1024):
        got.update(data)
        await asyncio.sleep(0.002)  # about 30 MiB/s at most
    done.set_result(got.hexdigest())
    writer.close()


async def sender(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, closed: asyncio.Future) -> None:
    writer.write(DATA)
    await writer.drain()
    writer.write_eof()
    await reader.read()  # until the upstream connection is closed
    writer.close()
    closed.set_result(None)


async def main() -> None:
    loop = asyncio.get_running_loop()
    done, closed = loop.create_future(), loop.create_future()
    sink = await asyncio.start_server(lambda r, w: slow_reader(r, w, done), "127.0.0.1", 0)
    source = await asyncio.start_server(lambda r, w: sender(r, w, closed), "127.0.0.1", 0)
    _, down = await loop.create_connection(Downstream, *sink.sockets[0].getsockname()[:2])
    set_limits(down.consumer.transport, high=128 * 1024, low=32 * 1024)  # pcp's marks

    proxy = pcp.ProducerConsumerProxy(down.consumer)  # registers itself with the adapter
    proxy.bufferSize, proxy.lowWater = 128 * 1024, 32 * 1024
    up_transport, up = await loop.create_connection(Upstream, *source.sockets[0].getsockname()[:2])
    up.proxy = proxy
    proxy.registerProducer(TransportProducer(up_transport), True)

    digest = await done
    assert digest == hashlib.sha256(DATA).hexdigest(), "the data differs"
    print(f"{proxy.bytesSent} bytes through the proxy, sha256 checked")
    print(f"peak buffered {proxy.peakBufferedBytes} (high-water {proxy.bufferSize}), "
          f"upstream paused {proxy.producerPauses} times")
    up_transport.close()
    await closed
    for server in (sink, source):
        server.close()
        await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())
