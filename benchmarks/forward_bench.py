"""Benchmark pcp-forward against twisted.protocols.portforward on loopback.

    python benchmarks/forward_bench.py [--bytes 1G] [--rounds 3]
                                       [--slow-bytes 128M] [--slow-rate 25M] [--skip-slow]

A script, not a pytest module. Part 1 moves --bytes from a sender through a
forwarder to a sink on 127.0.0.1, for each of: no forwarder (direct),
portforward, pcp-forward; rounds are interleaved and the median and best are
reported: MB/s (10**6 bytes) and the forwarder's CPU seconds (user + system,
from /proc) per GiB.

Part 2 paces the sender at 10x the sink's --slow-rate and samples each
forwarder's resident memory every 50 ms over a --slow-bytes transfer; for
pcp-forward the close line gives the peak buffered bytes and the pauses. A
naive forwarder (transport.write with no flow control) shows what the same
transfer costs without back-pressure.

Sender and sink are threads of this process (plain sockets, GIL released in
send and recv); each forwarder is its own process. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional, Tuple

MiB, GiB = 1 << 20, 1 << 30
TICK = os.sysconf("SC_CLK_TCK")
PAYLOAD = memoryview(os.urandom(MiB))

PORTFORWARD = """
import sys
from twisted.internet import reactor
from twisted.protocols.portforward import ProxyFactory
port = reactor.listenTCP(0, ProxyFactory("127.0.0.1", int(sys.argv[1])), interface="127.0.0.1")
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
        reactor.connectTCP("127.0.0.1", int(sys.argv[1]), factory)
    def dataReceived(self, data):
        self.peer.transport.write(data)
    def connectionLost(self, reason):
        if self.peer is not None:
            self.peer.transport.loseConnection()

port = reactor.listenTCP(0, protocol.Factory.forProtocol(In), interface="127.0.0.1")
print(port.getHost().port, flush=True)
reactor.run()
"""


def parse_bytes(text: str) -> int:
    """'1G', '128M', '64K' or a plain integer."""
    match = re.fullmatch(r"(\d+)([KMG]?)", text.strip().upper())
    if not match:
        raise argparse.ArgumentTypeError(f"expected a byte count like 1G, got {text!r}")
    return int(match[1]) * {"": 1, "K": 1 << 10, "M": MiB, "G": GiB}[match[2]]


# -- processes ----------------------------------------------------------------------------


class Forwarder:
    """A forwarder process listening on 127.0.0.1, forwarding to the sink's port."""

    def __init__(self, kind: str, targetPort: int, extra: List[str]) -> None:
        self.kind = kind
        self.lines: List[str] = []
        self._changed = threading.Condition()
        if kind == "pcp-forward":
            argv = [sys.executable, "-m", "pcp.forward", "--listen", "127.0.0.1:0",
                    "--connect", f"127.0.0.1:{targetPort}", *extra]
        else:
            argv = [sys.executable, "-c", PORTFORWARD if kind == "portforward" else NAIVE, str(targetPort)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if kind == "pcp-forward":
            threading.Thread(target=self._collect, daemon=True).start()
            self.port = int(self.wait_for(r"listening on 127\.0\.0\.1:(\d+)")[1])
        else:
            self.port = int(self.proc.stdout.readline())
            threading.Thread(target=self.proc.stderr.read, daemon=True).start()

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
                    raise RuntimeError(f"{self.kind}: no line matching {pattern!r}: {self.lines}")
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
        self.proc.wait(10)


# -- sender and sink ----------------------------------------------------------------------


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
    """Send *total* bytes to 127.0.0.1:port (paced at *rate* bytes/s if given), then close."""
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


def transfer(sink: Sink, port: int, total: int, sinkRate: Optional[float] = None,
             sendRate: Optional[float] = None, sample=None) -> float:
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


# -- the two parts ------------------------------------------------------------------------


def throughput(total: int, rounds: int, extra: List[str]) -> Dict[str, Dict[str, List[float]]]:
    """Interleaved rounds of direct / portforward / pcp-forward: MB/s and CPU s/GiB each."""
    sink = Sink()
    forwarders = {kind: Forwarder(kind, sink.port, extra) for kind in ("portforward", "pcp-forward")}
    results: Dict[str, Dict[str, List[float]]] = {
        kind: {"mbps": [], "cpu": []} for kind in ("direct", "portforward", "pcp-forward")
    }
    try:
        for _ in range(rounds):
            seconds = transfer(sink, sink.port, total)
            results["direct"]["mbps"].append(total / seconds / 1e6)
            for kind, fwd in forwarders.items():
                cpu = fwd.cpu_seconds()
                seconds = transfer(sink, fwd.port, total)
                results[kind]["cpu"].append((fwd.cpu_seconds() - cpu) / (total / GiB))
                results[kind]["mbps"].append(total / seconds / 1e6)
    finally:
        for fwd in forwarders.values():
            fwd.stop()
    return results


def slow_sink(total: int, sinkRate: float, extra: List[str]) -> Dict[str, Dict[str, float]]:
    """Sender at 10x the sink's rate: each forwarder's RSS over the transfer."""
    out: Dict[str, Dict[str, float]] = {}
    for kind in ("pcp-forward", "portforward", "naive"):
        sink = Sink()
        fwd = Forwarder(kind, sink.port, extra)
        samples: List[Tuple[float, int]] = []
        try:
            before = fwd.rss()
            start = time.monotonic()
            seconds = transfer(sink, fwd.port, total, sinkRate=sinkRate, sendRate=10 * sinkRate,
                               sample=lambda: samples.append((time.monotonic() - start, fwd.rss())))
            rss = [r for _, r in samples]
            settled = [r for t, r in samples if t >= seconds * 0.1] or rss
            row = {
                "seconds": seconds,
                "rssIdle": before,
                "rssMax": max(rss),
                "rssSettled": settled[0],
                "rssEnd": rss[-1],
                "growth": max(settled) - settled[0],
            }
            if kind == "pcp-forward":
                line = fwd.wait_for(r"peak buffered (\d+) up / \d+ down, pauses (\d+) up")
                size = fwd.wait_for(r"buffer (\d+) bytes each way")
                row.update(peakBuffered=int(line[1]), pauses=int(line[2]), highWater=int(size[1]))
            out[kind] = row
        finally:
            fwd.stop()
            sink.server.close()
    return out


def describe() -> str:
    import pcp
    import twisted

    kind = "compiled" if pcp.EXTENSIONS else "pure Python (PCP_NO_EXTENSIONS)"
    return (f"pcp {pcp.__version__} ({kind}), Twisted {twisted.__version__}, "
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bytes", type=parse_bytes, default=GiB, help="bytes per transfer (default 1G)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--slow-bytes", type=parse_bytes, default=128 * MiB,
                        help="bytes of the slow-sink transfer (default 128M)")
    parser.add_argument("--slow-rate", type=parse_bytes, default=25 * MiB,
                        help="the slow sink's bytes/s; the sender runs at 10x (default 25M)")
    parser.add_argument("--skip-slow", action="store_true", help="only the throughput part")
    parser.add_argument("--pcp-args", default="", help="extra pcp-forward arguments, e.g. '--buffer-size 1M'")
    args = parser.parse_args(argv)
    extra = args.pcp_args.split()

    print(describe())
    print(f"\n{args.bytes / GiB:g} GiB sender -> forwarder -> sink on 127.0.0.1, "
          f"{args.rounds} interleaved rounds, median (best)")
    results = throughput(args.bytes, args.rounds, extra)
    for kind, row in results.items():
        mbps = f"{statistics.median(row['mbps']):7.0f} MB/s ({max(row['mbps']):.0f})"
        cpu = (f"   {statistics.median(row['cpu']):.2f} CPU s/GiB ({min(row['cpu']):.2f})"
               if row["cpu"] else "")
        print(f"  {kind:<22}{mbps}{cpu}")
    ratio = statistics.median(results["pcp-forward"]["mbps"]) / statistics.median(results["portforward"]["mbps"])
    cpuRatio = statistics.median(results["pcp-forward"]["cpu"]) / statistics.median(results["portforward"]["cpu"])
    print(f"  pcp-forward / portforward: throughput x{ratio:.2f}, CPU per GiB x{cpuRatio:.2f}")

    if args.skip_slow:
        return
    print(f"\nslow sink: {args.slow_bytes / MiB:g} MiB, sink {args.slow_rate / MiB:g} MiB/s, "
          f"sender {10 * args.slow_rate / MiB:g} MiB/s; forwarder RSS sampled every 50 ms")
    for kind, row in slow_sink(args.slow_bytes, args.slow_rate, extra).items():
        line = (f"  {kind:<12} {row['seconds']:5.1f} s  RSS idle {row['rssIdle'] / MiB:6.1f} MiB, "
                f"at 10% {row['rssSettled'] / MiB:6.1f}, max {row['rssMax'] / MiB:6.1f}, "
                f"end {row['rssEnd'] / MiB:6.1f} (growth after 10%: {row['growth'] / MiB:.1f} MiB)")
        if "peakBuffered" in row:
            line += (f"; peak buffered {row['peakBuffered']} B (high-water {row['highWater']}), "
                     f"{row['pauses']} pauses")
        print(line)


if __name__ == "__main__":
    main()
