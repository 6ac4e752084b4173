"""pcp-forward under many connections, on every loop: 1,000 at once (the backlog), and --max-connections."""

import asyncio
import re
import shutil
import socket
import struct
import subprocess
import time

import pytest

from forward_support import (
    TIMEOUT,
    EchoTarget,
    connect,
    forwarder,  # noqa: F401 (fixture)
    listen_overflows,
    loop,  # noqa: F401 (fixture)
)

CLIENTS = 1000


@pytest.fixture
def echo():
    target = EchoTarget()
    yield target
    target.stop()


def _retransmits(sock):
    """Segments the kernel retransmitted on *sock* (SYNs included): tcp_info's tcpi_total_retrans."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return struct.unpack_from("I", info, 100)[0]


async def _burst(port, count):
    """Open *count* connections at once; each sends a line and reads it back: (ok, retransmits)."""
    retransmits = [None] * count

    async def one(i):
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
        message = b"PING %d\n" % i
        writer.write(message)
        try:
            return await asyncio.wait_for(reader.readline(), TIMEOUT) == message
        finally:
            retransmits[i] = _retransmits(writer.get_extra_info("socket"))
            writer.close()

    results = await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True)
    return results, retransmits


def _listen_queue_length(port):
    """The backlog of the socket listening on *port*, as ``ss`` reports it (Send-Q), or None."""
    if shutil.which("ss") is None:
        return None
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
    match = re.search(r"LISTEN\s+\d+\s+(\d+)", out)
    return int(match[1]) if match else None


def test_a_thousand_connections_at_once_are_all_served(forwarder, echo):
    fwd = forwarder("--connect", f"127.0.0.1:{echo.port}")
    backlog = _listen_queue_length(fwd.port)
    if backlog is not None:
        assert backlog == min(4096, int(open("/proc/sys/net/core/somaxconn").read()))
    overflows = listen_overflows()
    began = time.monotonic()
    results, retransmits = asyncio.run(_burst(fwd.port, CLIENTS))
    elapsed = time.monotonic() - began
    failures = [r for r in results if r is not True]
    assert failures == [], f"{len(failures)} of {CLIENTS} failed, e.g. {failures[:3]}"
    # A full listen queue drops the SYN (or the handshake's last ACK): the client
    # retransmits after 1 s. On loopback nothing else is lost: no retransmission at all.
    retried = [n for n in retransmits if n]
    assert retried == [], f"{len(retried)} of {CLIENTS} connections retransmitted (listen queue overflow)"
    assert elapsed < TIMEOUT
    if overflows is not None:
        print(f"{CLIENTS} connections in {elapsed:.2f}s; kernel ListenOverflows +{listen_overflows() - overflows}")


def test_max_connections_holds_the_rest_in_the_listen_queue(forwarder, echo):
    fwd = forwarder("--connect", f"127.0.0.1:{echo.port}", "--max-connections", "2", "--metrics", "127.0.0.1:0")
    first, second = connect(fwd.port), connect(fwd.port)
    for conn in (first, second):
        conn.sendall(b"hello\n")
        assert conn.recv(100) == b"hello\n"
    fwd.wait_for(r"2 connections open \(--max-connections\): new ones wait in the listen queue")
    third = connect(fwd.port)  # the kernel completes the handshake; the forwarder does not accept it yet
    third.sendall(b"third\n")
    third.settimeout(0.5)
    with pytest.raises(socket.timeout):
        third.recv(100)
    assert not any("connection 3 from" in line for line in fwd.lines)
    first.close()
    third.settimeout(TIMEOUT)
    assert third.recv(100) == b"third\n"
    fwd.wait_for(r"connection 3 from")
    for conn in (second, third):
        conn.close()
    fwd.wait_for(r"connection 3 \S+ -> \S+ closed")


def test_clients_resetting_at_once_leave_the_listener_serving(forwarder, echo):
    fwd = forwarder("--connect", f"127.0.0.1:{echo.port}")
    for _ in range(50):  # connect and reset before the forwarder has taken the connection
        sock = socket.create_connection(("127.0.0.1", fwd.port), timeout=TIMEOUT)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    with connect(fwd.port) as client:
        client.sendall(b"still here\n")
        assert client.recv(100) == b"still here\n"
