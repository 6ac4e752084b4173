"""Benchmark TCP forwarders on loopback: pcp's (Twisted, asyncio, uvloop) against references.

    python benchmarks/forward_bench.py [--bytes 1G] [--rounds 3] [--only NAME,NAME]
                                       [--connections 50] [--requests 2000] [--churn 2000]
                                       [--slow-bytes 128M] [--slow-rate 25M]
                                       [--skip-throughput] [--skip-requests] [--skip-churn]
                                       [--skip-slow-sink] [--skip-slow] [--json FILE]

A script, not a pytest module. Forwarders, each its own process listening on
127.0.0.1 (``--only`` picks some; ``direct`` is always measured):

- ``portforward``: ``twisted.protocols.portforward`` (Twisted);
- ``pcp-forward``: the ``pcp-forward`` command on its Twisted loop;
- ``pcp-forward asyncio`` / ``pcp-forward uvloop``: the same command with
  ``--loop asyncio|uvloop`` (rows left out when the command has no ``--loop``);
  ``pcp-forward uvloop quiet`` (only with ``--only``) adds ``--log-level
  notice``, leaving out its two log lines per connection;
- ``pcp.aio asyncio`` / ``pcp.aio uvloop``: ``pcp.aio.start_server``;
- ``plain asyncio`` / ``plain uvloop``: a plain Protocol forwarder written here
  (``data_received`` -> ``write``, ``pause_writing`` -> ``pause_reading``, the
  same write-buffer limits as pcp's marks: 64 KiB / 16 KiB), the fastest
  thing one writes by hand;
- ``streams asyncio`` / ``streams uvloop``: the usual streams forwarder
  (``read(65536)`` / ``write`` / ``await drain()``, written here).

Part 1, throughput: --bytes from a sender through each forwarder to a sink
(sender and sink are threads of this process, plain sockets); rounds are
interleaved; medians (and best) of MB/s (10**6 bytes) and of the forwarder's
CPU seconds (user + system, from /proc) per GiB; ratios from rounds run side
by side. Part 2, requests: --connections connections through the forwarder
to an echo server, each doing --requests 64-byte request/response round trips;
requests/s and forwarder CPU seconds per 100k requests. Part 3, churn: --churn
short connections (connect, one request/response, close), 50 at a time;
connections/s and CPU seconds per 1,000. Part 4, slow sink: the sender paced
at 10x the sink's --slow-rate; each forwarder's resident memory sampled every
50 ms (pcp's rows add the peak buffered bytes and pauses from the close line);
a naive forwarder (no flow control) shows what it costs without back-pressure.

``--skip-slow`` keeps its first meaning: the throughput part only.
``--json FILE`` writes every figure: ``throughput``, ``requests``, ``churn``
and ``slow`` lists of rows, each row with its ``name``; throughput rows carry
``cpu_s_per_gib`` (median), the one key of a row naming CPU per GiB. Linux
only (/proc).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

MiB, GiB = 1 << 20, 1 << 30
TICK = os.sysconf("SC_CLK_TCK")
PAYLOAD = memoryview(os.urandom(MiB))
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# -- forwarders written here, run as ``python -c CODE LOOP TARGET_PORT``; each prints its port ---------

PORTFORWARD = """
import sys
from twisted.internet import reactor
from twisted.protocols.portforward import ProxyFactory
port = reactor.listenTCP(0, ProxyFactory("127.0.0.1", int(sys.argv[2])), interface="127.0.0.1", backlog=1024)
print(port.getHost().port, flush=True)
reactor.run()
"""

NAIVE = """
import sys
from twisted.internet import protocol, reactor

class Out(protocol.Protocol):
    def __init__(self, peer):
        self.peer = peer
    def connectionMade(self):
        self.peer.peer = self
        self.peer.transport.resumeProducing()
    def dataReceived(self, data):
        self.peer.transport.write(data)  # no flow control: the write buffer just grows
    def connectionLost(self, reason):
        self.peer.transport.loseConnection()

class In(protocol.Protocol):
    peer = None
    def connectionMade(self):
        self.transport.pauseProducing()
        factory = protocol.ClientFactory()
        factory.noisy = False
        factory.buildProtocol = lambda addr: Out(self)
        reactor.connectTCP("127.0.0.1", int(sys.argv[2]), factory)
    def dataReceived(self, data):
        self.peer.transport.write(data)
    def connectionLost(self, reason):
        if self.peer is not None:
            self.peer.transport.loseConnection()

port = reactor.listenTCP(0, protocol.Factory.forProtocol(In), interface="127.0.0.1")
print(port.getHost().port, flush=True)
reactor.run()
"""

_RUN_LOOP = """
if sys.argv[1] == "uvloop":
    import uvloop
    uvloop.run(main())
else:
    asyncio.run(main())
"""

PCP_AIO = """
import asyncio, sys
import pcp.aio

def closed(conn):
    s = conn.stats
    if s.up.bytes < 1 << 20:
        return  # only big transfers are logged (the slow-sink part reads the line)
    print(f"connection {conn.number} closed: {s.up.bytes} bytes up, {s.down.bytes} bytes down, "
          f"peak buffered {s.up.peak_buffered} up / {s.down.peak_buffered} down, "
          f"pauses {s.up.pauses} up / {s.down.pauses} down", file=sys.stderr, flush=True)

async def main():
    server = await pcp.aio.start_server(("127.0.0.1", int(sys.argv[2])), "127.0.0.1", 0, backlog=1024,
                                        on_close=closed)
    print(f"buffer {server.buffer_size} bytes each way", file=sys.stderr, flush=True)
    print(server.addresses[0][1], flush=True)
    await asyncio.Event().wait()
""" + _RUN_LOOP

PLAIN = """
import asyncio, sys
TARGET = ("127.0.0.1", int(sys.argv[2]))

class Side(asyncio.Protocol):
    transport = None
    eof = False
    def __init__(self, peer=None):
        self.peer = peer
        self.early = []   # what the client sent before the target connected
    def connection_made(self, transport):
        self.transport = transport
        transport.set_write_buffer_limits(high=65536, low=16384)
    def data_received(self, data):
        if self.peer is None:
            self.early.append(data)
        else:
            self.peer.transport.write(data)
    def eof_received(self):
        self.eof = True
        if self.peer is not None:
            self.peer.transport.write_eof()
            if self.peer.eof:
                self.transport.close()
                self.peer.transport.close()
        return True
    def pause_writing(self):
        self.peer.transport.pause_reading()
    def resume_writing(self):
        self.peer.transport.resume_reading()
    def connection_lost(self, exc):
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()

class Client(Side):
    def connection_made(self, transport):
        super().connection_made(transport)
        asyncio.get_running_loop().create_task(self.connect())
    async def connect(self):
        loop = asyncio.get_running_loop()
        try:
            _, target = await loop.create_connection(lambda: Side(self), *TARGET)
        except OSError:
            self.transport.close()
            return
        self.peer = target
        for data in self.early:
            target.transport.write(data)
        if self.eof:
            target.transport.write_eof()

async def main():
    server = await asyncio.get_running_loop().create_server(Client, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()
""" + _RUN_LOOP

STREAMS = """
import asyncio, sys
TARGET = ("127.0.0.1", int(sys.argv[2]))

async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()

async def handle(reader, writer):
    try:
        target_reader, target_writer = await asyncio.open_connection(*TARGET)
    except OSError:
        writer.close()
        return
    await asyncio.gather(pipe(reader, target_writer), pipe(target_reader, writer))

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()
""" + _RUN_LOOP

ECHO = """
import asyncio, sys

class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
    def data_received(self, data):
        self.transport.write(data)
    def eof_received(self):
        self.transport.close()

async def main():
    server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()
""" + _RUN_LOOP


def has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def cli_has_loop() -> bool:
    """True when pcp-forward takes --loop (the asyncio/uvloop command line)."""
    proc = subprocess.run([sys.executable, "-m", "pcp.forward", "--help"], capture_output=True, text=True,
                          cwd=ROOT)
    return proc.returncode == 0 and "--loop" in proc.stdout


def forwarder_specs(extra: List[str]) -> Dict[str, Tuple[List[str], str]]:
    """name -> (argv after the interpreter, how it announces its port: "stdout" or "log")."""
    specs: Dict[str, Tuple[List[str], str]] = {}
    cli = ["-m", "pcp.forward", "--listen", "127.0.0.1:0", "--connect", "127.0.0.1:{port}", *extra]
    loops = ["asyncio"] + (["uvloop"] if has_uvloop() else [])
    specs["portforward"] = (["-c", PORTFORWARD, "twisted", "{port}"], "stdout")
    with_loop = cli_has_loop()
    specs["pcp-forward"] = (cli + (["--loop", "twisted"] if with_loop else []), "log")
    if with_loop:
        for loop in loops:
            specs[f"pcp-forward {loop}"] = (cli + ["--loop", loop], "log")
        # Without its two log lines per connection (asked for by --only only).
        specs[f"pcp-forward {loops[-1]} quiet"] = (cli + ["--loop", loops[-1], "--log-level", "notice"], "log")
    for loop in loops:
        specs[f"pcp.aio {loop}"] = (["-c", PCP_AIO, loop, "{port}"], "stdout")
    for loop in loops:
        specs[f"plain {loop}"] = (["-c", PLAIN, loop, "{port}"], "stdout")
    for loop in loops:
        specs[f"streams {loop}"] = (["-c", STREAMS, loop, "{port}"], "stdout")
    specs["naive"] = (["-c", NAIVE, "twisted", "{port}"], "stdout")
    return specs


def parse_bytes(text: str) -> int:
    """'1G', '128M', '64K' or a plain integer."""
    match = re.fullmatch(r"(\d+)([KMG]?)", text.strip().upper())
    if not match:
        raise argparse.ArgumentTypeError(f"expected a byte count like 1G, got {text!r}")
    return int(match[1]) * {"": 1, "K": 1 << 10, "M": MiB, "G": GiB}[match[2]]


# -- processes ----------------------------------------------------------------------------


class Forwarder:
    """A forwarder process listening on 127.0.0.1, forwarding to *targetPort*."""

    def __init__(self, name: str, spec: Tuple[List[str], str], targetPort: int) -> None:
        self.name = name
        self.lines: List[str] = []
        self._changed = threading.Condition()
        argv, style = spec
        argv = [a.replace("{port}", str(targetPort)) for a in argv]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
        self.proc = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=ROOT, env=env)
        threading.Thread(target=self._collect, daemon=True).start()
        if style == "log":
            self.port = int(self.wait_for(r"listening on 127\.0\.0\.1:(\d+)")[1])
        else:
            line = self.proc.stdout.readline()
            if not line.strip():
                self.proc.wait(10)
                raise RuntimeError(f"{name}: did not start: {''.join(self.lines)[-500:]}")
            self.port = int(line)

    def _collect(self) -> None:
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for(self, pattern: str, after: int = 0, timeout: float = 30) -> "re.Match[str]":
        """The first log line from index *after* on matching *pattern*."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[after:]:
                    match = regex.search(line)
                    if match:
                        return match
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name}: no line matching {pattern!r}: {self.lines[-10:]}")
                self._changed.wait(0.1)

    def cpu_seconds(self) -> float:
        """User + system CPU seconds used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def rss(self) -> int:
        """Resident set size in bytes."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def start_all(names: List[str], specs: Dict[str, Tuple[List[str], str]], port: int) -> Dict[str, Forwarder]:
    out: Dict[str, Forwarder] = {}
    try:
        for name in names:
            out[name] = Forwarder(name, specs[name], port)
    except BaseException:
        for fwd in out.values():
            fwd.stop()
        raise
    return out


# -- part 1: throughput -------------------------------------------------------------------


class Sink:
    """Accepts one connection per transfer and counts what arrives, optionally paced."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]

    def receive(self, rate: Optional[float], result: Dict[str, float]) -> None:
        conn, _ = self.server.accept()
        buf = bytearray(64 * 1024 if rate else MiB)
        view = memoryview(buf)
        count = 0
        start = time.monotonic()
        with conn:
            while True:
                n = conn.recv_into(view)
                if not n:
                    break
                count += n
                if rate:
                    ahead = start + count / rate - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
        result["received"] = count
        result["end"] = time.monotonic()


def send(port: int, total: int, rate: Optional[float]) -> None:
    """Send *total* bytes to 127.0.0.1:port (paced at *rate* bytes/s if given), then shut down writing."""
    chunk = 64 * 1024 if rate else MiB
    with socket.create_connection(("127.0.0.1", port)) as conn:
        sent = 0
        start = time.monotonic()
        while sent < total:
            n = min(chunk, total - sent)
            conn.sendall(PAYLOAD[:n])
            sent += n
            if rate:
                ahead = start + sent / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(10)
        try:
            conn.recv(1)  # until the forwarder closes: the transfer is over for it too
        except OSError:
            pass


def transfer(sink: Sink, port: int, total: int, sinkRate: Optional[float] = None,
             sendRate: Optional[float] = None, sample: Optional[Callable[[], None]] = None) -> float:
    """Move *total* bytes through *port* to the sink; return the seconds it took."""
    result: Dict[str, float] = {}
    receiver = threading.Thread(target=sink.receive, args=(sinkRate, result))
    receiver.start()
    start = time.monotonic()
    sender = threading.Thread(target=send, args=(port, total, sendRate))
    sender.start()
    while receiver.is_alive():
        if sample is not None:
            sample()
        receiver.join(0.05)
    sender.join()
    if result["received"] != total:
        raise RuntimeError(f"{result['received']} of {total} bytes arrived")
    return result["end"] - start


def throughput(names: List[str], specs: Dict[str, Any], total: int, rounds: int,
               progress: Callable[[str], None]) -> Dict[str, Dict[str, List[float]]]:
    """Interleaved rounds of direct and each forwarder: MB/s and CPU s/GiB, per round."""
    sink = Sink()
    forwarders = start_all(names, specs, sink.port)
    results: Dict[str, Dict[str, List[float]]] = {n: {"mbps": [], "cpu": []} for n in ["direct", *names]}
    try:
        for r in range(rounds):
            seconds = transfer(sink, sink.port, total)
            results["direct"]["mbps"].append(total / seconds / 1e6)
            order = names if r % 2 == 0 else names[::-1]
            for name in order:
                fwd = forwarders[name]
                cpu = fwd.cpu_seconds()
                seconds = transfer(sink, fwd.port, total)
                time.sleep(0.05)  # let the forwarder finish closing before reading its CPU
                results[name]["cpu"].append((fwd.cpu_seconds() - cpu) / (total / GiB))
                results[name]["mbps"].append(total / seconds / 1e6)
            progress(f"  throughput round {r + 1}/{rounds} done")
    finally:
        for fwd in forwarders.values():
            fwd.stop()
        sink.server.close()
    return results


# -- parts 2 and 3: requests and churn (an asyncio client in this process) -----------------


REQUEST = b"x" * 64


class RoundTrips(asyncio.Protocol):
    """One connection doing request/response round trips of 64 bytes."""

    def __init__(self, count: int, done: "asyncio.Future[None]") -> None:
        self.count = count
        self.done = done
        self.got = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def go(self) -> None:
        self.transport.write(REQUEST)

    def data_received(self, data: bytes) -> None:
        self.got += len(data)
        if self.got >= len(REQUEST):
            self.got -= len(REQUEST)
            self.count -= 1
            if self.count > 0:
                self.transport.write(REQUEST)
            elif not self.done.done():
                self.done.set_result(None)

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"lost after {self.count} requests left: {exc}"))


async def requests_round(port: int, connections: int, per_connection: int) -> float:
    """Seconds for *connections* x *per_connection* round trips (connections opened beforehand)."""
    loop = asyncio.get_running_loop()
    protocols = []
    for _ in range(connections):
        done = loop.create_future()
        _, proto = await loop.create_connection(lambda d=done: RoundTrips(per_connection, d), "127.0.0.1", port)
        protocols.append(proto)
    await asyncio.sleep(0.05)
    start = time.monotonic()
    for proto in protocols:
        proto.go()
    await asyncio.gather(*(p.done for p in protocols))
    seconds = time.monotonic() - start
    for proto in protocols:
        proto.transport.close()
    await asyncio.sleep(0.05)
    return seconds


async def churn_round(port: int, total: int, concurrency: int = 50) -> float:
    """Seconds for *total* short connections (connect, one round trip, close), *concurrency* at a time."""
    loop = asyncio.get_running_loop()
    left = total

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            done = loop.create_future()
            transport, proto = await loop.create_connection(lambda: RoundTrips(1, done), "127.0.0.1", port)
            proto.go()
            await done
            transport.close()

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.monotonic() - start


def run_client(coro: Any) -> Any:
    if has_uvloop():
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def small_messages(names: List[str], specs: Dict[str, Any], rounds: int, workload: str, connections: int,
                   requests: int, churn: int, progress: Callable[[str], None]) -> Dict[str, Dict[str, List[float]]]:
    """Interleaved rounds of the requests or churn workload: per-second rate and CPU per unit, per round."""
    echo = Forwarder("echo", (["-c", ECHO, "uvloop" if has_uvloop() else "asyncio"], "stdout"), 0)
    forwarders = start_all(names, specs, echo.port)
    units = connections * requests if workload == "requests" else churn
    per = 100_000 if workload == "requests" else 1000
    results: Dict[str, Dict[str, List[float]]] = {n: {"rate": [], "cpu": []} for n in ["direct", *names]}
    try:
        for r in range(rounds):
            order = ["direct", *(names if r % 2 == 0 else names[::-1])]
            for name in order:
                port = echo.port if name == "direct" else forwarders[name].port
                fwd = forwarders.get(name)
                cpu = fwd.cpu_seconds() if fwd else 0.0
                if workload == "requests":
                    seconds = run_client(requests_round(port, connections, requests))
                else:
                    seconds = run_client(churn_round(port, churn))
                time.sleep(0.1)
                results[name]["rate"].append(units / seconds)
                if fwd:
                    results[name]["cpu"].append((fwd.cpu_seconds() - cpu) / units * per)
            progress(f"  {workload} round {r + 1}/{rounds} done")
    finally:
        for fwd in forwarders.values():
            fwd.stop()
        echo.stop()
    return results


# -- part 4: slow sink --------------------------------------------------------------------


def slow_sink(names: List[str], specs: Dict[str, Any], total: int, sinkRate: float) -> Dict[str, Dict[str, float]]:
    """Sender at 10x the sink's rate: each forwarder's RSS over the transfer."""
    out: Dict[str, Dict[str, float]] = {}
    for name in names:
        sink = Sink()
        fwd = Forwarder(name, specs[name], sink.port)
        samples: List[Tuple[float, int]] = []
        try:
            before = fwd.rss()
            start = time.monotonic()
            seconds = transfer(sink, fwd.port, total, sinkRate=sinkRate, sendRate=10 * sinkRate,
                               sample=lambda: samples.append((time.monotonic() - start, fwd.rss())))
            rss = [r for _, r in samples]
            settled = [r for t, r in samples if t >= seconds * 0.1] or rss
            row: Dict[str, float] = {
                "seconds": seconds,
                "rssIdle": before,
                "rssMax": max(rss),
                "rssSettled": settled[0],
                "rssEnd": rss[-1],
                "growth": max(settled) - settled[0],
            }
            if name.startswith("pcp"):
                try:
                    line = fwd.wait_for(r"peak buffered (\d+) up / \d+ down, pauses (\d+) up", timeout=5)
                    size = fwd.wait_for(r"buffer (\d+) bytes each way", timeout=5)
                    row.update(peakBuffered=int(line[1]), pauses=int(line[2]), highWater=int(size[1]))
                except RuntimeError as e:  # a log format this script does not know
                    print(f"  ({name}: no peak-buffered line: {e})", file=sys.stderr)
            out[name] = row
        finally:
            fwd.stop()
            sink.server.close()
    return out


# -- report -------------------------------------------------------------------------------


def describe() -> str:
    import pcp

    try:
        import twisted

        tw = f"Twisted {twisted.__version__}"
    except ImportError:
        tw = "no Twisted"
    try:
        import uvloop

        uv = f"uvloop {uvloop.__version__}"
    except ImportError:
        uv = "no uvloop"
    kind = "compiled" if pcp.EXTENSIONS else "pure Python (PCP_NO_EXTENSIONS)"
    return (f"pcp {pcp.__version__} ({kind}), {tw}, {uv}, Python {platform.python_version()}, "
            f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")


def paired_ratio(a: List[float], b: List[float]) -> float:
    """The median of per-round ratios a[i] / b[i] (rounds run side by side)."""
    return statistics.median(x / y for x, y in zip(a, b) if y)


def report_rates(title: str, results: Dict[str, Dict[str, List[float]]], rate_key: str, rate_fmt: str,
                 cpu_fmt: str) -> List[Dict[str, Any]]:
    print(title)
    rows = []
    for name, row in results.items():
        rate = statistics.median(row[rate_key])
        line = f"  {name:<22}{rate_fmt.format(rate)} ({rate_fmt.format(max(row[rate_key])).strip()})"
        count = max(len(v) for v in row.values())
        entry: Dict[str, Any] = {"name": name, "rounds": [{k: v[i] for k, v in row.items() if i < len(v)}
                                                          for i in range(count)]}
        entry[rate_key] = rate
        if row["cpu"]:
            cpu = statistics.median(row["cpu"])
            line += f"   {cpu_fmt.format(cpu)} ({cpu_fmt.format(min(row['cpu'])).split()[0]})"
            entry["cpu"] = cpu
        print(line)
        rows.append(entry)
    return rows


def report_ratios(results: Dict[str, Dict[str, List[float]]], rate_key: str, what: str) -> Dict[str, float]:
    """The issue's comparisons, from rounds run side by side."""
    ratios: Dict[str, float] = {}
    pairs = [
        ("pcp.aio uvloop", "plain uvloop", "cpu"),
        ("pcp.aio uvloop", "streams uvloop", "cpu"),
        ("pcp.aio asyncio", "plain asyncio", "cpu"),
        ("pcp.aio asyncio", "streams asyncio", "cpu"),
        ("pcp-forward uvloop", "plain uvloop", "cpu"),
        ("pcp-forward uvloop", "streams uvloop", "cpu"),
        ("pcp-forward uvloop quiet", "plain uvloop", "cpu"),
        ("pcp.aio uvloop", "plain uvloop", rate_key),
        ("pcp-forward uvloop", "plain uvloop", rate_key),
        ("pcp-forward uvloop quiet", "plain uvloop", rate_key),
        ("pcp.aio uvloop", "portforward", rate_key),
        ("pcp.aio asyncio", "portforward", rate_key),
        ("pcp-forward uvloop", "portforward", rate_key),
        ("pcp-forward asyncio", "portforward", rate_key),
        ("pcp-forward", "portforward", rate_key),
        ("pcp-forward", "portforward", "cpu"),
    ]
    for a, b, key in pairs:
        if a in results and b in results and results[a][key] and results[b][key]:
            ratio = paired_ratio(results[a][key], results[b][key])
            label = f"{a} / {b}"
            ratios[f"{label} {'CPU' if key == 'cpu' else what}"] = ratio
            print(f"  {label:<40} {'CPU per unit' if key == 'cpu' else what:<14} x{ratio:.2f}")
    return ratios


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bytes", type=parse_bytes, default=GiB, help="bytes per transfer (default 1G)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--only", default="", help="comma-separated forwarder names (default: all)")
    parser.add_argument("--connections", type=int, default=50, help="connections of the requests part (default 50)")
    parser.add_argument("--requests", type=int, default=2000, help="round trips per connection (default 2000)")
    parser.add_argument("--churn", type=int, default=2000, help="short connections per churn round (default 2000)")
    parser.add_argument("--slow-bytes", type=parse_bytes, default=128 * MiB,
                        help="bytes of the slow-sink transfer (default 128M)")
    parser.add_argument("--slow-rate", type=parse_bytes, default=25 * MiB,
                        help="the slow sink's bytes/s; the sender runs at 10x (default 25M)")
    parser.add_argument("--skip-throughput", action="store_true", help="leave out the throughput part")
    parser.add_argument("--skip-requests", action="store_true", help="leave out the requests part")
    parser.add_argument("--skip-churn", action="store_true", help="leave out the churn part")
    parser.add_argument("--skip-slow", action="store_true",
                        help="only the throughput part, as before (leaves out requests, churn and slow sink)")
    parser.add_argument("--skip-slow-sink", action="store_true", help="leave out the slow-sink part")
    parser.add_argument("--pcp-args", default="", help="extra pcp-forward arguments, e.g. '--buffer-size 1M'")
    parser.add_argument("--json", metavar="FILE", help="write every figure to FILE")
    args = parser.parse_args(argv)
    if args.skip_slow:  # its meaning since the first version: the throughput part only
        args.skip_requests = args.skip_churn = args.skip_slow_sink = True
    specs = forwarder_specs(args.pcp_args.split())
    all_names = [n for n in specs if n != "naive" and not n.endswith(" quiet")]
    try:
        import twisted  # noqa: F401
    except ImportError:
        all_names = [n for n in all_names if n not in ("portforward", "pcp-forward")]
    names = [n.strip() for n in args.only.split(",") if n.strip()] or all_names
    unknown = [n for n in names if n not in specs]
    if unknown:
        parser.error(f"unknown forwarder(s) {unknown}; known: {', '.join(specs)}")

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    document: Dict[str, Any] = {"machine": describe(), "argv": sys.argv[1:]}
    print(document["machine"])
    if not args.skip_throughput:
        results = throughput(names, specs, args.bytes, args.rounds, progress)
        rows = report_rates(f"\n{args.bytes / GiB:g} GiB sender -> forwarder -> sink on 127.0.0.1, "
                            f"{args.rounds} interleaved rounds, median (best)", results, "mbps",
                            "{:7.0f} MB/s", "{:.2f} CPU s/GiB")
        for row in rows:
            row["mbps_median"] = row.pop("mbps")
            if "cpu" in row:
                row["cpu_s_per_gib"] = row.pop("cpu")
            for r in row["rounds"]:
                r["cpu_s"] = r.pop("cpu", None)
        document["throughput"] = rows
        document["throughput_ratios"] = report_ratios(results, "mbps", "throughput")
    if not args.skip_requests:
        results = small_messages(names, specs, args.rounds, "requests", args.connections, args.requests,
                                 args.churn, progress)
        rows = report_rates(f"\nrequests: {args.connections} connections x {args.requests} round trips of 64 B "
                            f"through the forwarder to an echo server, median (best)", results, "rate",
                            "{:7.0f} req/s", "{:.2f} CPU s/100k req")
        for row in rows:
            row["requests_per_s"] = row.pop("rate")
            if "cpu" in row:
                row["cpu_s_per_100k_requests"] = row.pop("cpu")
        document["requests"] = rows
        document["requests_ratios"] = report_ratios(results, "rate", "requests/s")
    if not args.skip_churn:
        results = small_messages(names, specs, args.rounds, "churn", args.connections, args.requests,
                                 args.churn, progress)
        rows = report_rates(f"\nchurn: {args.churn} short connections (connect, 64 B round trip, close), "
                            f"50 at a time, median (best)", results, "rate", "{:7.0f} conn/s",
                            "{:.2f} CPU s/1k conn")
        for row in rows:
            row["connections_per_s"] = row.pop("rate")
            if "cpu" in row:
                row["cpu_s_per_1k_connections"] = row.pop("cpu")
        document["churn"] = rows
        document["churn_ratios"] = report_ratios(results, "rate", "connections/s")
    if not args.skip_slow_sink:
        slow_names = [n for n in names if n.startswith("pcp") or n in ("portforward",)]
        try:
            import twisted  # noqa: F401,F811

            slow_names.append("naive")
        except ImportError:
            pass
        print(f"\nslow sink: {args.slow_bytes / MiB:g} MiB, sink {args.slow_rate / MiB:g} MiB/s, "
              f"sender {10 * args.slow_rate / MiB:g} MiB/s; forwarder RSS sampled every 50 ms")
        slow = slow_sink(slow_names, specs, args.slow_bytes, args.slow_rate)
        for name, row in slow.items():
            line = (f"  {name:<20} {row['seconds']:5.1f} s  RSS idle {row['rssIdle'] / MiB:6.1f} MiB, "
                    f"at 10% {row['rssSettled'] / MiB:6.1f}, max {row['rssMax'] / MiB:6.1f}, "
                    f"end {row['rssEnd'] / MiB:6.1f} (growth after 10%: {row['growth'] / MiB:.1f} MiB)")
            if "peakBuffered" in row:
                line += (f"; peak buffered {row['peakBuffered']} B (high-water {row['highWater']}), "
                         f"{row['pauses']} pauses")
            print(line)
        document["slow"] = [{"name": name, **row} for name, row in slow.items()]
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=1)


if __name__ == "__main__":
    main()
