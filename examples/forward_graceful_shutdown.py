"""pcp-forward in production, on loopback: metrics during a transfer, then a graceful SIGTERM.

Starts ``pcp-forward`` (``python -m pcp.forward``, on asyncio) in front of a
slow target, sends 8 MiB through it, scrapes its metrics endpoint while the
transfer runs, then sends SIGTERM mid-transfer: the forwarder stops accepting,
lets the transfer finish, and exits with status 0. Checks every byte.

    python examples/forward_graceful_shutdown.py [asyncio|uvloop|twisted]
"""

import hashlib
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

LOOP = sys.argv[1] if len(sys.argv) > 1 else "asyncio"
DATA = bytes(range(256)) * (8 * 4096)  # 8 MiB


def slow_target(server: socket.socket, result: dict) -> None:
    """Accept one connection and read it at about 16 MB/s, hashing what arrives."""
    conn, _ = server.accept()
    digest, count, start = hashlib.sha256(), 0, time.monotonic()
    with conn:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            digest.update(chunk)
            count += len(chunk)
            time.sleep(max(0.0, start + count / 16e6 - time.monotonic()))
    result.update(count=count, sha=digest.hexdigest())


def main() -> int:
    server = socket.create_server(("127.0.0.1", 0))
    result: dict = {}
    target = threading.Thread(target=slow_target, args=(server, result))
    target.start()
    forwarder = subprocess.Popen(
        [sys.executable, "-m", "pcp.forward", "--loop", LOOP,
         "--listen", "127.0.0.1:0", "--connect", "127.0.0.1:%d" % server.getsockname()[1],
         "--metrics", "127.0.0.1:0", "--drain-timeout", "30"],
        stderr=subprocess.PIPE, text=True,
    )
    lines = []
    ports = {}
    assert forwarder.stderr is not None
    for line in forwarder.stderr:  # the startup lines give the ports chosen
        lines.append(line.rstrip())
        if "listening on" in line:
            ports["listen"] = int(re.search(r"listening on \S+?:(\d+)", line)[1])
        if "metrics at" in line:
            ports["metrics"] = int(re.search(r"metrics at http://\S+:(\d+)/", line)[1])
            break
    threading.Thread(target=lambda: lines.extend(l.rstrip() for l in forwarder.stderr), daemon=True).start()

    with socket.create_connection(("127.0.0.1", ports["listen"])) as client:
        sender = threading.Thread(target=lambda: (client.sendall(DATA), client.shutdown(socket.SHUT_WR)))
        sender.start()
        time.sleep(0.2)
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % ports["metrics"]) as response:
            metrics = response.read().decode()
        wanted = ("pcp_forward_connections_open", 'pcp_forward_bytes_total{direction="up"}',
                  'pcp_forward_buffered_bytes{direction="up"}', 'pcp_forward_pauses_total{direction="up"}')
        print("metrics during the transfer:")
        for line in metrics.splitlines():
            if line.startswith(wanted):
                print("   ", line)
        forwarder.send_signal(signal.SIGTERM)
        print("SIGTERM sent mid-transfer")
        sender.join()
        client.recv(1)  # end-of-file once the target has closed
    target.join()
    status = forwarder.wait(60)
    server.close()
    time.sleep(0.1)
    print("forwarder log:")
    for line in lines:
        print("   ", line)
    intact = result == {"count": len(DATA), "sha": hashlib.sha256(DATA).hexdigest()}
    print(f"target received {result['count']} bytes, intact: {intact}; pcp-forward exit status {status}")
    return 0 if intact and status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
