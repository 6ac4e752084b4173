"""A forwarding server with pcp.aio.start_server: live counters, a slow client, graceful shutdown.

The target streams 16 MiB to each client; one client reads at 4 MiB/s, one
at full speed. While they run, the server's live view shows each connection
pausing the target at pcp's high-water mark instead of buffering everything.
Each connection logs one line when it closes; then the server stops
accepting, closes what is open and waits.
"""

import asyncio
import hashlib
import os
import sys

import pcp.aio

SIZE = 16 << 20
BLOCK = os.urandom(1 << 20)
DIGEST = hashlib.sha256(BLOCK * (SIZE >> 20)).hexdigest()


async def source(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The target: 16 MiB to whoever connects, with flow control, then end-of-file."""
    for _ in range(SIZE >> 20):
        writer.write(BLOCK)
        await writer.drain()
    writer.write_eof()
    await reader.read()  # until the forwarder closes
    writer.close()


async def client(port: int, rate: float) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    got, count, start = hashlib.sha256(), 0, asyncio.get_running_loop().time()
    while data := await reader.read(256 * 1024):
        got.update(data)
        count += len(data)
        if rate:
            ahead = start + count / rate - asyncio.get_running_loop().time()
            await asyncio.sleep(max(0.0, ahead))
    writer.close()
    assert count == SIZE and got.hexdigest() == DIGEST, "the data differs"
    speed = f"{rate / (1 << 20):g} MiB/s" if rate else "full speed"
    return f"client at {speed}: {count} bytes, sha256 checked"


def closed(conn: pcp.aio.Connection) -> None:
    s = conn.stats
    print(f"connection {conn.number} {conn.client_address[0]}:{conn.client_address[1]} -> "
          f"{conn.target_address[0]}:{conn.target_address[1]}: {s.ended} after {s.seconds:.2f}s, "
          f"{s.down.bytes} bytes down, peak buffered {s.down.peak_buffered}, {s.down.pauses} pauses")


async def main() -> None:
    target = await asyncio.start_server(source, "127.0.0.1", 0)
    server = await pcp.aio.start_server(target.sockets[0].getsockname()[:2], "127.0.0.1", 0,
                                        buffer_size=256 * 1024, on_close=closed)
    port = server.addresses[0][1]
    print(f"forwarding 127.0.0.1:{port} -> {server.target[0]}:{server.target[1]}")
    clients = asyncio.gather(client(port, 4 << 20), client(port, 0))
    while not clients.done():
        await asyncio.sleep(0.5)
        for conn in server.connections.values():
            print(f"  live: connection {conn.number}: {conn.down.bytes} bytes down, "
                  f"{conn.down.buffered} buffered (peak {conn.down.peak_buffered}), {conn.down.pauses} pauses")
    for line in await clients:
        print(line)
    totals = server.totals()
    print(f"totals: {totals.total} connections, {totals.down} bytes down, peak buffered {totals.peak_buffered}")
    assert totals.peak_buffered <= 256 * 1024 + 256 * 1024  # high-water mark plus one read
    server.close()
    server.close_connections()
    await server.wait_closed()
    target.close()
    await target.wait_closed()


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
    print("done", file=sys.stderr)
