"""Helpers for the pcp-forward tests: the command in a subprocess, targets, payloads.

The forwarder runs as ``python -m pcp.forward`` in a subprocess, on the event
loop under test (``--loop``) and on the pcp implementation under test
(PCP_NO_EXTENSIONS); clients and targets are plain sockets in the test
process, on 127.0.0.1, with timeouts.
"""

import hashlib
import importlib.util
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
import warnings

import pytest

MiB = 1 << 20
TIMEOUT = 20
BLOCK = bytes(range(251)) * 4177  # ~1 MiB, a period that does not divide the chunk sizes
NO_EXTENSIONS = bool(os.environ.get("PCP_NO_EXTENSIONS"))
_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\S+Z ")


def _available(module):
    return importlib.util.find_spec(module) is not None


LOOPS = [
    pytest.param("asyncio", id="asyncio"),
    pytest.param("uvloop", id="uvloop", marks=pytest.mark.skipif(
        not _available("uvloop"), reason="uvloop is not installed (pip install 'pcp-buffer[uvloop]')")),
    pytest.param("twisted", id="twisted", marks=[pytest.mark.twisted, pytest.mark.skipif(
        not _available("twisted"), reason="Twisted is not installed (pip install 'pcp-buffer[twisted]')")]),
]
KIND = "twin" if NO_EXTENSIONS else "compiled"


@pytest.fixture(params=LOOPS)
def loop(request):
    """The event loop pcp-forward runs on: asyncio, uvloop, twisted."""
    return request.param


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


def sha(data):
    return hashlib.sha256(data).hexdigest()


class Forwarder:
    """``python -m pcp.forward`` in a subprocess, its log lines collected as they come."""

    def __init__(self, loop, *args, kind=KIND, listen="127.0.0.1:0", env=None, wait=True):
        env = dict(os.environ, **(env or {}))
        if kind == "twin":
            env["PCP_NO_EXTENSIONS"] = "1"
        else:
            env.pop("PCP_NO_EXTENSIONS", None)
        self.kind = kind
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pcp.forward", "--listen", listen, "--loop", loop, *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()
        self.port = None
        if wait:
            started = self.wait_for(r"listening on \S+?:(\d+)\b.* pcp (compiled|pure Python)")
            self.port = int(started[1])
            assert started[2] == ("compiled" if kind == "compiled" else "pure Python")

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

    def metrics_port(self):
        return int(self.wait_for(r"metrics at http://\S+:(\d+)/metrics")[1])

    def signal(self, number=signal.SIGTERM):
        self.proc.send_signal(number)

    def exit_status(self, timeout=TIMEOUT):
        """Wait for the process to end; its exit status, after its last lines are read."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("pcp-forward did not exit:\n" + "\n".join(self.lines))
        self._reader.join(5)  # its last lines, up to end-of-file
        return code

    def errors(self):
        """Log lines that report an error, tracebacks included.

        One is let through with a warning: asyncio on Python 3.11 delivering a
        second connection_lost after a transport closed on its own is aborted
        (``_call_connection_lost`` fails on a None protocol), seen now and then
        when a peer resets; pcp.aio is to stop aborting such transports.
        """
        errors, known = [], False
        for line in self.lines:
            if _STAMP.match(line):
                known = "Exception in callback _SelectorSocketTransport._call_connection_lost" in line
                if known:
                    warnings.warn(f"known asyncio/pcp.aio issue in pcp-forward's log: {line}")
            if known:
                continue
            if "Traceback" in line or "Unhandled" in line or " error " in line:
                errors.append(line)
        return errors

    def close(self):
        """Stop with SIGTERM: with nothing open it must exit 0 at once, having logged no error."""
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        code = self.exit_status()
        assert self.errors() == [], "\n".join(self.lines)
        return code


@pytest.fixture
def forwarder(loop):
    """Start pcp-forward on the loop under test; each one started is stopped (SIGTERM) and checked."""
    started = []

    def start(*args, **kwargs):
        fwd = Forwarder(loop, *args, **kwargs)
        started.append(fwd)
        return fwd

    yield start
    for fwd in started:
        if fwd.proc.poll() is None:
            assert fwd.close() == 0, "\n".join(fwd.lines)


class Target:
    """A listening socket on 127.0.0.1 whose one connection is served by *handler* in a thread."""

    def __init__(self, handler, rcvbuf=None):
        self.sock = socket.create_server(("127.0.0.1", 0))
        if rcvbuf is not None:  # a fixed, small receive buffer (no autotuning): the kernel holds little
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
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


def recv_all(conn, rate=None, progress=None):
    """Read until end-of-file: (byte count, sha256 hex); no faster than *rate* bytes/s if given."""
    digest, count = hashlib.sha256(), 0
    start = time.monotonic()
    while True:
        data = conn.recv(65536)
        if not data:
            return count, digest.hexdigest()
        digest.update(data)
        count += len(data)
        if progress is not None:
            progress(count)
        if rate:
            time.sleep(max(0.0, start + count / rate - time.monotonic()))


def connect(port):
    conn = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    conn.settimeout(TIMEOUT)
    return conn


def reset(conn):
    """Close *conn* with a reset (SO_LINGER 0), not a clean end-of-file."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


CLOSED = (
    r"connection {number} \S+ -> \S+ closed after \S+, (?P<how>.*?): "
    r"(?P<up>\d+) bytes up \([^)]*\), (?P<down>\d+) bytes down \([^)]*\), "
    r"peak buffered (?P<upPeak>\d+) up / (?P<downPeak>\d+) down, "
    r"pauses (?P<upPauses>\d+) up / (?P<downPauses>\d+) down(?P<extra>.*)$"
)


def closed_line(fwd, number=1):
    """The log line of connection *number* closing, parsed."""
    return fwd.wait_for(CLOSED.format(number=number))


def scrape(port, path="/metrics"):
    """GET the metrics endpoint: {(name, labels): value}, checking the format as it goes."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=TIMEOUT) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode("utf-8")
    values, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-z_]+)(?:\{([^}]*)\})? (\S+)", line)
        assert match, f"not an exposition line: {line!r}"
        assert match[1] in typed, f"{match[1]} has no TYPE line"
        values[(match[1], match[2] or "")] = float(match[3])
    return values


def json_lines(lines):
    return [json.loads(line) for line in lines]


class EchoTarget:
    """An echo server on 127.0.0.1 (asyncio, in a thread) for many connections at once."""

    def __init__(self, backlog=4096):
        import asyncio

        self._asyncio = asyncio
        self.ready = threading.Event()
        self.connections = 0
        self._backlog = backlog
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self.ready.wait(TIMEOUT)

    async def _echo(self, reader, writer):
        self.connections += 1
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, self._asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def _run(self):
        asyncio = self._asyncio
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._echo, "127.0.0.1", 0, backlog=self._backlog))
        self.port = self.server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()
        self.server.close()
        tasks = asyncio.all_tasks(self.loop)
        for task in tasks:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self.loop.close()

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(TIMEOUT)


def listen_overflows():
    """The kernel's TcpExtListenOverflows counter (None where it cannot be read)."""
    try:
        with open("/proc/net/netstat") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:]))
            return int(table.get("ListenOverflows", 0))
    return None
