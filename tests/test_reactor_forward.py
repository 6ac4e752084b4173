"""pcp-forward: real connections forwarded through the command, and its usage errors.

The forwarder runs as ``python -m pcp.forward`` in a subprocess (on the
implementation under test, via PCP_NO_EXTENSIONS); the client and the target
are plain blocking sockets in threads of the test process, on 127.0.0.1,
with timeouts, moving at most a few tens of MiB.
"""

import hashlib
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("twisted")

from pcp.forward import parse_args  # noqa: E402

pytestmark = pytest.mark.twisted

MiB = 1 << 20
TIMEOUT = 20
BLOCK = bytes(range(251)) * 4177  # ~1 MiB, a period that does not divide the chunk sizes


def payload(n, shift=0):
    """n bytes of a deterministic stream."""
    out = bytearray()
    offset = shift
    while len(out) < n:
        start = offset % len(BLOCK)
        piece = BLOCK[start : start + n - len(out)]
        out += piece
        offset += len(piece)
    return bytes(out)


class Forwarder:
    """``python -m pcp.forward`` in a subprocess, its log lines collected as they come."""

    def __init__(self, impl, *args):
        env = dict(os.environ)
        if impl.kind == "twin":
            env["PCP_NO_EXTENSIONS"] = "1"
        else:
            env.pop("PCP_NO_EXTENSIONS", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pcp.forward", "--listen", "127.0.0.1:0", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines = []
        self._changed = threading.Condition()
        threading.Thread(target=self._collect, daemon=True).start()
        started = self.wait_for(r"listening on 127\.0\.0\.1:(\d+), forwarding to .* pcp (compiled|pure Python)")
        self.port = int(started[1])
        assert started[2] == ("compiled" if impl.kind == "compiled" else "pure Python")

    def _collect(self):
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, pattern, timeout=TIMEOUT):
        """The first log line matching *pattern* (a match object), waiting for it to come."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    match = regex.search(line)
                    if match:
                        return match
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"no log line matching {pattern!r}:\n" + "\n".join(self.lines))
                self._changed.wait(min(left, 0.1))

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        errors = [line for line in self.lines if "Traceback" in line or "Unhandled" in line]
        assert errors == [], "\n".join(self.lines)


@pytest.fixture
def forwarder(impl):
    """Start pcp-forward with the given arguments; every one started is stopped and checked."""
    started = []

    def start(*args):
        fwd = Forwarder(impl, *args)
        started.append(fwd)
        return fwd

    yield start
    for fwd in started:
        fwd.close()


class Target:
    """A listening socket on 127.0.0.1 whose one connection is served by *handler* in a thread."""

    def __init__(self, handler):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(TIMEOUT)
        self.port = self.sock.getsockname()[1]
        self.result = None
        self.error = None
        self.thread = threading.Thread(target=self._serve, args=(handler,), daemon=True)
        self.thread.start()

    def _serve(self, handler):
        try:
            conn, _ = self.sock.accept()
            with conn:
                conn.settimeout(TIMEOUT)
                self.result = handler(conn)
        except BaseException as e:  # reported by join()
            self.error = e
        finally:
            self.sock.close()

    def join(self):
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive(), "the target is still busy"
        if self.error is not None:
            raise self.error
        return self.result


def recv_all(conn, rate=None):
    """Read until end-of-file: (byte count, sha256 hex); no faster than *rate* bytes/s if given."""
    digest, count = hashlib.sha256(), 0
    start = time.monotonic()
    while True:
        data = conn.recv(65536)
        if not data:
            return count, digest.hexdigest()
        digest.update(data)
        count += len(data)
        if rate:
            time.sleep(max(0.0, start + count / rate - time.monotonic()))


def sha(data):
    return hashlib.sha256(data).hexdigest()


def connect(port):
    conn = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    conn.settimeout(TIMEOUT)
    return conn


def reset(conn):
    """Close *conn* with a reset (SO_LINGER 0), not a clean end-of-file."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def closed_line(fwd, number=1):
    """The log line of connection *number* closing, parsed."""
    return fwd.wait_for(
        rf"connection {number} \S+ -> \S+ closed after \S+, (?P<how>.*?) first: "
        r"(?P<up>\d+) bytes up, (?P<down>\d+) bytes down, "
        r"peak buffered (?P<upPeak>\d+) up / (?P<downPeak>\d+) down, "
        r"pauses (?P<upPauses>\d+) up / (?P<downPauses>\d+) down(?P<extra>.*)$"
    )


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
    totals = fwd.wait_for(r"totals: connections 0 open / 1 total, (\d+) bytes up, (\d+) bytes down")
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
    assert line["how"] == "client closed"
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
    # One read (Twisted's 64 KiB unless --read-size) past the high-water mark at most.
    assert int(line["upPeak"]) <= 256 * 1024 + (read_size or 65536)


def test_refused_target_closes_the_client_and_is_logged(forwarder):
    with socket.create_server(("127.0.0.1", 0)) as probe:
        free_port = probe.getsockname()[1]
    fwd = forwarder("--connect", f"127.0.0.1:{free_port}")
    with connect(fwd.port) as client:
        client.sendall(b"anyone there?")
        assert client.recv(100) == b""
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
    with connect(fwd.port) as client:
        with pytest.raises(OSError):
            for _ in range(64):  # at most 64 MiB: the forwarder must hang up long before
                client.sendall(payload(MiB))
            pytest.fail("the forwarder kept accepting data from a client whose target was lost")
    assert target.join() >= MiB
    # Linux reports a reset once: if a send took the ECONNRESET, the next read
    # sees end-of-file, so the forwarder may log the loss as a close.
    assert closed_line(fwd)["how"].startswith(("target lost", "target closed"))


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
    assert line["how"].startswith("client")


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


def test_pcp_imports_without_twisted_and_pcp_forward_says_what_it_needs():
    code = (
        "import sys\n"
        "sys.modules['twisted'] = sys.modules['zope'] = None\n"
        "import pcp\n"
        "proxy = pcp.ProducerConsumerProxy(None)\n"
        "proxy.write(b'x')\n"
        "assert proxy.bufferedBytes == 1\n"
        "try:\n"
        "    import pcp.forward\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert "pcp.forward needs Twisted and zope.interface: pip install 'pcp-buffer[twisted]'" in proc.stdout


def test_port_in_use_is_a_clear_error():
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "pcp.forward", "--listen", f"127.0.0.1:{port}", "--connect", "127.0.0.1:9"],
            capture_output=True, text=True, timeout=TIMEOUT,
        )
    assert proc.returncode == 1
    assert f"pcp-forward: error: cannot listen on 127.0.0.1:{port}" in proc.stderr
