"""Forward between two connected sockets with pcp.aio.forward, on asyncio (or uvloop if installed).

A "backend" on 127.0.0.1 answers each line with the line upper-cased; a
listening socket accepts one client; ``pcp.aio.forward(a, b)`` joins the
accepted socket ``a`` to a socket ``b`` connected to the backend. The client
sends 20,000 lines (about 2 MiB), half-closes, reads every answer and checks
it; ``forward`` then returns its per-direction stats.
"""

import asyncio
import hashlib
import socket
import sys

import pcp.aio

LINES = 20_000


async def backend(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Upper-case every line; half-close after the client's end-of-file."""
    while line := await reader.readline():
        writer.write(line.upper())
        await writer.drain()
    writer.write_eof()
    await writer.drain()
    writer.close()


async def client(port: int) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    expected = hashlib.sha256()

    async def send() -> None:
        for i in range(LINES):
            line = f"line {i:06d} of the forwarded conversation, some padding here...\n".encode()
            expected.update(line.upper())
            writer.write(line)
            await writer.drain()
        writer.write_eof()  # half-close: the answers still come back

    sending = asyncio.ensure_future(send())
    got = hashlib.sha256()
    count = 0
    while line := await reader.readline():
        got.update(line)
        count += 1
    await sending
    writer.close()
    assert count == LINES and got.digest() == expected.digest(), "the answers differ"
    return f"{count} answers, sha256 checked"


async def main() -> None:
    loop = asyncio.get_running_loop()
    target = await asyncio.start_server(backend, "127.0.0.1", 0)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]

    checking = asyncio.ensure_future(client(port))
    a, _ = await loop.sock_accept(listener)  # the client's connection
    b = socket.socket()
    b.setblocking(False)
    await loop.sock_connect(b, target.sockets[0].getsockname())  # to the backend

    stats = await pcp.aio.forward(a, b, buffer_size=64 * 1024)
    print(await checking)
    print(f"up: {stats.up.bytes} bytes, peak buffered {stats.up.peak_buffered}, {stats.up.pauses} pauses")
    print(f"down: {stats.down.bytes} bytes, peak buffered {stats.down.peak_buffered}, {stats.down.pauses} pauses")
    print(f"ended: {stats.ended} after {stats.seconds:.2f}s")
    assert stats.up.bytes == stats.down.bytes
    listener.close()
    target.close()
    await target.wait_closed()


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
        print("loop: asyncio", file=sys.stderr)
    else:
        uvloop.run(main())
        print("loop: uvloop", file=sys.stderr)
