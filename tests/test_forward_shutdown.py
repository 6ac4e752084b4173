"""pcp-forward's graceful shutdown, on every loop: SIGTERM/SIGINT drain, the drain timeout, a second signal.

The forwarder runs the real command in a subprocess; a transfer is in flight
(a slow target keeps it going) when the signal arrives.
"""

import signal
import socket
import threading
import time

import pytest

from forward_support import (
    MiB,
    TIMEOUT,
    Target,
    closed_line,
    connect,
    forwarder,  # noqa: F401 (fixture)
    loop,  # noqa: F401 (fixture)
    payload,
    recv_all,
    sha,
)


def _refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def _read_until_closed(conn):
    try:
        return conn.recv(100)
    except ConnectionResetError:
        return None


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_transfer_in_flight_completes_after_the_signal(forwarder, signum):
    # Request (6 MiB, read slowly by the target), half-close, then the reply
    # (1 MiB): the signal comes with most of the request still to go.
    request, reply = payload(6 * MiB), payload(1 * MiB, shift=99)
    started = threading.Event()

    def serve(conn):
        got = recv_all(conn, rate=12e6, progress=lambda n: n >= MiB and started.set())
        conn.sendall(reply)
        return got

    target = Target(serve)
    fwd = forwarder("--connect", f"127.0.0.1:{target.port}", "--drain-timeout", "30")
    with connect(fwd.port) as client:
        sender = threading.Thread(target=lambda: (client.sendall(request), client.shutdown(socket.SHUT_WR)))
        sender.start()
        assert started.wait(TIMEOUT)
        fwd.signal(signum)
        fwd.wait_for(rf"shutting down on {signum.name}: no longer accepting; draining 1 open connection")
        assert _refused(fwd.port), "the forwarder still accepts connections while draining"
        assert recv_all(client) == (len(reply), sha(reply))
        sender.join(TIMEOUT)
    assert target.join() == (len(request), sha(request))
    assert fwd.exit_status() == 0, "\n".join(fwd.lines)
    line = closed_line(fwd)
    assert line["how"] == "client closed first"
    assert (int(line["up"]), int(line["down"])) == (len(request), len(reply))
    fwd.wait_for(r"shutdown: every connection finished, drained in")
    fwd.wait_for(r"stopped \(exit status 0\)")
    assert fwd.errors() == []


def test_the_drain_timeout_closes_what_is_left(forwarder):
    # An idle connection never finishes by itself: the drain timeout cuts it.
    target_got = []

    def serve(conn):
        target_got.append(conn.recv(100))
        try:
            return conn.recv(100)  # end-of-file, or a reset: the shutdown aborts
        except ConnectionResetError:
            return None

    target = Target(serve)
    fwd = forwarder("--connect", f"127.0.0.1:{target.port}", "--drain-timeout", "0.5")
    with connect(fwd.port) as client:
        client.sendall(b"hello")
        fwd.wait_for(r"connection 1 from")
        deadline = time.monotonic() + TIMEOUT
        while not target_got and time.monotonic() < deadline:
            time.sleep(0.01)
        assert target_got == [b"hello"]
        began = time.monotonic()
        fwd.signal(signal.SIGTERM)
        try:
            assert client.recv(100) == b""
        except ConnectionResetError:
            pass  # cut: an abort may reach the client as a reset
        assert fwd.exit_status() == 3, "\n".join(fwd.lines)
        assert 0.4 < time.monotonic() - began < 10
    assert target.join() in (b"", None)
    fwd.wait_for(r"shutdown: drain timeout 0\.5s: closing the 1 connection still open")
    line = closed_line(fwd)
    assert line["how"] == "cut by the shutdown (drain timeout 0.5s)"
    assert int(line["up"]) == 5
    fwd.wait_for(r"stopped \(exit status 3\)")
    # Logged as a shutdown, not as a client's or target's fault.
    assert not [l for l in fwd.lines if "reset" in l or "lost" in l], "\n".join(fwd.lines)


def test_a_second_signal_closes_at_once(forwarder):
    joined = threading.Event()

    def serve(conn):
        joined.set()
        return _read_until_closed(conn)

    target = Target(serve)
    fwd = forwarder("--connect", f"127.0.0.1:{target.port}", "--drain-timeout", "60")
    with connect(fwd.port):
        assert joined.wait(TIMEOUT)  # forwarding, not still connecting to the target
        fwd.signal(signal.SIGTERM)
        fwd.wait_for(r"shutting down on SIGTERM")
        began = time.monotonic()
        fwd.signal(signal.SIGINT)
        assert fwd.exit_status() == 3, "\n".join(fwd.lines)
        assert time.monotonic() - began < 10
    target.join()
    fwd.wait_for(r"shutdown: second SIGINT: closing the 1 connection still open")
    assert fwd.errors() == []


def test_nothing_open_stops_at_once_with_status_0(forwarder):
    fwd = forwarder("--connect", "127.0.0.1:9", "--drain-timeout", "60")
    began = time.monotonic()
    fwd.signal(signal.SIGINT)
    assert fwd.exit_status() == 0
    assert time.monotonic() - began < 10
    fwd.wait_for(r"shutting down on SIGINT: no longer accepting; no connections open")
    assert fwd.errors() == []
