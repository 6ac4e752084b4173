"""pcp-forward: real connections forwarded through the command, on every event loop, and its usage errors.

The forwarder runs as ``python -m pcp.forward --loop LOOP`` in a subprocess
(on the implementation under test, via PCP_NO_EXTENSIONS); the client and the
target are plain blocking sockets in threads of the test process, on
127.0.0.1, with timeouts, moving at most a few tens of MiB. Each forwarding
test runs on asyncio, uvloop and Twisted with the compiled core, and on
asyncio with the pure-Python twin too (every loop on the twin when
PCP_NO_EXTENSIONS is set).
"""

import hashlib
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from forward_support import (
    MiB,
    NO_EXTENSIONS,
    TIMEOUT,
    Forwarder,
    Target,
    _available,
    closed_line,
    connect,
    payload,
    recv_all,
    reset,
    sha,
)
from pcp.forward import parse_args

_VARIANTS = [(loop, "twin" if NO_EXTENSIONS else "compiled") for loop in ("asyncio", "uvloop", "twisted")]
if not NO_EXTENSIONS:
    _VARIANTS.append(("asyncio", "twin"))
_MISSING = {"uvloop": "uvloop is not installed (pip install 'pcp-buffer[uvloop]')",
            "twisted": "Twisted is not installed (pip install 'pcp-buffer[twisted]')"}


def _param(loop, kind):
    marks = [pytest.mark.twisted] if loop == "twisted" else []
    if loop in _MISSING and not _available(loop):
        marks.append(pytest.mark.skip(reason=_MISSING[loop]))
    return pytest.param((loop, kind), id=f"{loop}-{kind}", marks=marks)


@pytest.fixture(params=[_param(*v) for v in _VARIANTS])
def forwarder(request):
    """Start pcp-forward on one (loop, implementation); every one started is stopped and checked."""
    loop, kind = request.param
    started = []

    def start(*args):
        fwd = Forwarder(loop, *args, kind=kind)
        started.append(fwd)
        return fwd

    start.loop = loop
    yield start
    for fwd in started:
        if fwd.proc.poll() is None:
            assert fwd.close() == 0, "\n".join(fwd.lines)


# -- forwarding real connections --------------------------------------------------------


def test_forwards_both_ways_at_once(forwarder):
    up, down = payload(16 * MiB), payload(6 * MiB, shift=12345)

    def serve(conn):
        sender = threading.Thread(target=lambda: (conn.sendall(down), conn.shutdown(socket.SHUT_WR)))
        sender.start()
        got = recv_all(conn)
        sender.join(TIMEOUT)
        return got

    target = Target(serve)
    fwd = forwarder("--connect", f"127.0.0.1:{target.port}", "--stats", "0.1")
    with connect(fwd.port) as client:
        sender = threading.Thread(target=lambda: (client.sendall(up), client.shutdown(socket.SHUT_WR)))
        sender.start()
        assert recv_all(client) == (len(down), sha(down))
        sender.join(TIMEOUT)
    assert target.join() == (len(up), sha(up))
    line = closed_line(fwd)
    assert (int(line["up"]), int(line["down"])) == (len(up), len(down))
    assert line["extra"] == ""
    totals = fwd.wait_for(r"totals: connections 0 open / 1 total, (\d+) bytes up \(\S+ \S+\), (\d+) bytes down")
    assert (int(totals[1]), int(totals[2])) == (len(up), len(down))


def test_end_of_file_is_forwarded_before_the_reply(forwarder):
    # Request, half-close, then the reply: the target only answers after end-of-file.
    request, reply = payload(3 * MiB), payload(2 * MiB, shift=777)

    def serve(conn):
        got = recv_all(conn)
        conn.sendall(reply)
        return got

    target = Target(serve)
    fwd = forwarder("--connect", f"127.0.0.1:{target.port}")
    with connect(fwd.port) as client:
        client.sendall(request)
        client.shutdown(socket.SHUT_WR)
        assert recv_all(client) == (len(reply), sha(reply))
    assert target.join() == (len(request), sha(request))
    line = closed_line(fwd)
    assert line["how"] == "client closed first"
    assert (int(line["up"]), int(line["down"])) == (len(request), len(reply))


@pytest.mark.parametrize("read_size", [None, 128 * 1024])
def test_slow_target_stops_reading_from_the_client(forwarder, read_size):
    data = payload(16 * MiB)
    # 64 MB/s: far slower than the client and the forwarder, even on a busy machine.
    target = Target(lambda conn: recv_all(conn, rate=64e6))
    extra = ("--read-size", str(read_size)) if read_size else ()
    fwd = forwarder("--connect", f"127.0.0.1:{target.port}", "--buffer-size", "256K", "--low-water", "64K", *extra)
    with connect(fwd.port) as client:
        client.sendall(data)
    assert target.join() == (len(data), sha(data))
    line = closed_line(fwd)
    assert int(line["up"]) == len(data)
    assert int(line["upPauses"]) > 0
    # One read past the high-water mark at most: --read-size, or the loop's own
    # read size (Twisted's 64 KiB, asyncio's and uvloop's 256 KiB).
    default_read = 65536 if forwarder.loop == "twisted" else 256 * 1024
    assert int(line["upPeak"]) <= 256 * 1024 + (read_size or default_read)


def test_refused_target_closes_the_client_and_is_logged(forwarder):
    with socket.create_server(("127.0.0.1", 0)) as probe:
        free_port = probe.getsockname()[1]
    fwd = forwarder("--connect", f"127.0.0.1:{free_port}")
    with connect(fwd.port) as client:
        client.sendall(b"anyone there?")
        try:
            assert client.recv(100) == b""
        except ConnectionResetError:
            pass  # closed with what it sent unread: the kernel may send a reset
    fwd.wait_for(r"connection 1 \S+ -> 127\.0\.0\.1:%d: not forwarded, connecting to the target failed: .*refused" % free_port)


def test_target_lost_mid_stream_closes_the_client(forwarder):
    def serve(conn):
        got = 0
        while got < MiB:
            got += len(conn.recv(65536))
        reset(conn)
        return got

    target = Target(serve)
    fwd = forwarder("--connect", f"127.0.0.1:{target.port}")
    chunk = payload(MiB)
    with connect(fwd.port) as client:
        # The client keeps sending: the forwarder must tell it the target is gone
        # (end-of-file, or a reset) and hang up within a bounded time. On Twisted it
        # resets at once; pcp.aio half-closes, drops what still comes for up to 2 s
        # (closing with unread data would reset the client and could destroy what it
        # was owed), then closes.
        stopped = threading.Event()
        began = time.monotonic()

        def send():
            try:
                while time.monotonic() - began < 15:
                    client.sendall(chunk)
            except OSError:
                stopped.set()

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        try:
            while client.recv(65536):
                pass
        except ConnectionResetError:
            pass
        assert stopped.wait(TIMEOUT), "the forwarder kept accepting data from a client whose target was lost"
        assert time.monotonic() - began < 10
        sender.join(TIMEOUT)
    assert target.join() >= MiB
    # Linux reports a reset once: if a send took the ECONNRESET, the next read
    # sees end-of-file, so the forwarder may log the loss as a close.
    assert closed_line(fwd)["how"] in ("target reset first", "target closed first")


def test_client_lost_mid_stream_still_delivers_what_was_accepted(forwarder):
    data = payload(4 * MiB)
    halfway = threading.Event()

    def serve(conn):
        digest, count = hashlib.sha256(), 0
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return count, digest.hexdigest()
            digest.update(chunk)
            count += len(chunk)
            if count >= MiB:
                halfway.set()

    target = Target(serve)
    fwd = forwarder("--connect", f"127.0.0.1:{target.port}")
    client = connect(fwd.port)
    client.sendall(data)
    assert halfway.wait(TIMEOUT)
    reset(client)
    count, digest = target.join()
    line = closed_line(fwd)
    # Whatever the forwarder accepted before the reset reached the target, in order, then end-of-file.
    assert count >= MiB and count == int(line["up"]) and line["extra"] == ""
    assert digest == sha(data[:count])
    assert line["how"] == "client reset first"


# -- usage errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "the following arguments are required: --listen, --connect"),
        (["--listen", "127.0.0.1:0"], "the following arguments are required: --connect"),
        (["--listen", "8080", "--connect", "h:1"], "argument --listen: expected HOST:PORT"),
        (["--listen", ":0", "--connect", ":80"], "argument --connect: a host is needed"),
        (["--listen", ":0", "--connect", "h:0"], "argument --connect: port 0 out of range"),
        (["--listen", ":70000", "--connect", "h:1"], "argument --listen: port 70000 out of range"),
        (["--listen", ":0", "--connect", "h:1", "--buffer-size", "lots"], "argument --buffer-size: expected a byte count"),
        (["--listen", ":0", "--connect", "h:1", "--buffer-size", "0"], "--buffer-size must be at least 1 byte"),
        (["--listen", ":0", "--connect", "h:1", "--low-water", "128K"],
         "--low-water (131072) must not exceed --buffer-size (65536)"),
        (["--listen", ":0", "--connect", "h:1", "--buffer-size", "1M", "--low-water", "2M"],
         "--low-water (2097152) must not exceed --buffer-size (1048576)"),
        (["--listen", ":0", "--connect", "h:1", "--read-size", "0"], "--read-size must be at least 1 byte"),
        (["--listen", ":0", "--connect", "h:1", "--stats", "-1"], "argument --stats: expected a positive number"),
        (["--listen", ":0", "--connect", "h:1", "--stats", "often"], "argument --stats: expected a number"),
        (["--listen", ":0", "--connect", "h:1", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: pcp-forward")
    assert message in err


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--listen", "127.0.0.1:0", "--connect", "example.org:80"], (("127.0.0.1", 0), ("example.org", 80), None, None)),
        (["--listen", "[::1]:8080", "--connect", "[::1]:80", "--buffer-size", "1M", "--low-water", "64k"],
         (("::1", 8080), ("::1", 80), MiB, 65536)),
        (["--listen", ":9", "--connect", "h:1", "--buffer-size", "2MiB"], (("", 9), ("h", 1), 2 * MiB, None)),
    ],
)
def test_good_arguments_parse(argv, expected):
    args = parse_args(argv)
    assert (args.listen, args.connect, args.buffer_size, args.low_water) == expected
    assert args.read_size is None and args.stats is None


def test_console_script_reports_usage_errors():
    script = Path(sys.executable).with_name("pcp-forward")
    if not script.exists():
        pytest.skip("the pcp-forward console script is not installed next to this Python")
    proc = subprocess.run([str(script), "--listen", "nowhere"], capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 2
    assert "usage: pcp-forward" in proc.stderr
    assert "argument --listen: expected HOST:PORT" in proc.stderr


def test_pcp_and_pcp_forward_import_without_twisted_and_its_classes_say_what_they_need():
    code = (
        "import sys\n"
        "sys.modules['twisted'] = sys.modules['zope'] = None\n"
        "import pcp\n"
        "proxy = pcp.ProducerConsumerProxy(None)\n"
        "proxy.write(b'x')\n"
        "assert proxy.bufferedBytes == 1\n"
        "import pcp.forward\n"
        "try:\n"
        "    pcp.forward.ForwardFactory\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert ("pcp.forward.ForwardFactory needs Twisted and zope.interface: pip install 'pcp-buffer[twisted]'"
            in proc.stdout)


def test_port_in_use_is_a_clear_error():
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "pcp.forward", "--listen", f"127.0.0.1:{port}", "--connect", "127.0.0.1:9"],
            capture_output=True, text=True, timeout=TIMEOUT,
        )
    assert proc.returncode == 1
    assert f"pcp-forward: error: cannot listen on 127.0.0.1:{port}" in proc.stderr
