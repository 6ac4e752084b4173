"""pcp-forward's metrics endpoint (Prometheus text format), scraped during a real transfer, on every loop."""

import socket
import threading
import urllib.error
import urllib.request

import pytest

import pcp

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
    scrape,
    sha,
)
from pcp.forward._metrics import MetricsRequest, render

BUFFER = 256 * 1024


def test_metrics_show_the_live_counters_during_a_transfer(forwarder):
    data = payload(8 * MiB)
    halfway, resume = threading.Event(), threading.Event()

    def serve(conn):
        # Read 2 MiB, then stop reading until the metrics have been taken:
        # the forwarder's buffer toward the target fills and it pauses the client.
        got = bytearray()
        while len(got) < 2 * MiB:
            got += conn.recv(65536)
        halfway.set()
        assert resume.wait(TIMEOUT)
        while True:
            chunk = conn.recv(1 << 20)
            if not chunk:
                return bytes(got)
            got += chunk

    # The kernel could otherwise take the whole transfer into the target's
    # autotuned receive buffer (up to tcp_rmem's maximum, 32 MiB here).
    target = Target(serve, rcvbuf=64 * 1024)
    fwd = forwarder("--connect", f"127.0.0.1:{target.port}", "--metrics", "127.0.0.1:0",
                    "--buffer-size", str(BUFFER))
    port = fwd.metrics_port()
    before = scrape(port)
    assert before[("pcp_forward_connections_open", "")] == 0
    assert before[("pcp_forward_connections_total", "")] == 0
    assert before[("pcp_forward_accepting", "")] == 1
    with connect(fwd.port) as client:
        sender = threading.Thread(target=lambda: (client.sendall(data), client.shutdown(socket.SHUT_WR)))
        sender.start()
        assert halfway.wait(TIMEOUT)
        # Wait until the forwarder holds a full buffer (the target reads nothing now).
        for _ in range(200):
            during = scrape(port)
            if (during[("pcp_forward_pauses_total", 'direction="up"')] >= 1
                    and during[("pcp_forward_buffered_bytes", 'direction="up"')] > 0):
                break  # paused, and holding bytes now (an earlier pause may have drained)
            threading.Event().wait(0.02)
        resume.set()
        assert recv_all(client) == (0, sha(b""))
        sender.join(TIMEOUT)
    assert sha(target.join()) == sha(data)
    assert during[("pcp_forward_connections_open", "")] == 1
    assert during[("pcp_forward_connections_total", "")] == 1
    up = during[("pcp_forward_bytes_total", 'direction="up"')]
    assert 2 * MiB <= up < len(data)  # live: part of the transfer, counted while it runs
    assert during[("pcp_forward_pauses_total", 'direction="up"')] >= 1
    buffered = during[("pcp_forward_buffered_bytes", 'direction="up"')]
    assert 0 < buffered <= during[("pcp_forward_peak_buffered_bytes", "")] <= BUFFER + 256 * 1024
    assert during[("pcp_forward_bytes_total", 'direction="down"')] == 0
    line = closed_line(fwd)
    after = scrape(port)
    assert after[("pcp_forward_connections_open", "")] == 0
    assert after[("pcp_forward_connections_total", "")] == 1
    assert after[("pcp_forward_bytes_total", 'direction="up"')] == len(data) == int(line["up"])
    assert after[("pcp_forward_buffered_bytes", 'direction="up"')] == 0
    assert after[("pcp_forward_pauses_total", 'direction="up"')] == int(line["upPauses"])
    assert after[("pcp_forward_connect_failures_total", "")] == 0


def test_metrics_endpoint_answers_http_properly(forwarder, loop):
    fwd = forwarder("--connect", "127.0.0.1:9", "--metrics", "127.0.0.1:0")
    port = fwd.metrics_port()
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/nothing", timeout=TIMEOUT)
    assert info.value.code == 404
    head = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", method="HEAD")
    with urllib.request.urlopen(head, timeout=TIMEOUT) as response:
        assert response.status == 200 and response.read() == b""
        assert int(response.headers["Content-Length"]) > 0
    values = scrape(port)
    kind = "compiled" if fwd.kind == "compiled" else "pure Python"
    info = f'loop="{loop}",pcp="{kind}",version="{pcp.__version__}"'
    assert values[("pcp_forward_info", info)] == 1
    # A refused target counts as a connect failure.
    with connect(fwd.port) as client:
        try:
            client.recv(10)
        except ConnectionResetError:
            pass
    fwd.wait_for(r"connection 1 .* not forwarded, connecting to the target failed: Connection refused")
    assert scrape(port)[("pcp_forward_connect_failures_total", "")] == 1


# -- the exposition text and the request parser, without a network ------------------------


def _snapshot(**changes):
    snap = dict(open=2, total=7, connect_failures=1, up=10, down=20, buffered_up=3, buffered_down=0,
                pauses_up=4, pauses_down=0, peak=65536, accepting=True, draining=False,
                start_time=1.5, max_connections=0)
    snap.update(changes)
    return snap


def test_render_gives_every_metric_with_help_and_type():
    text = render(_snapshot(), {"version": "1.0", "loop": "asyncio", "pcp": "compiled"})
    lines = text.splitlines()
    assert 'pcp_forward_info{loop="asyncio",pcp="compiled",version="1.0"} 1' in lines
    assert 'pcp_forward_bytes_total{direction="up"} 10' in lines
    assert 'pcp_forward_bytes_total{direction="down"} 20' in lines
    assert "pcp_forward_connections_open 2" in lines and "pcp_forward_accepting 1" in lines
    assert "# TYPE pcp_forward_bytes_total counter" in lines
    assert "# TYPE pcp_forward_buffered_bytes gauge" in lines
    assert not any(line.startswith("pcp_forward_max_connections") for line in lines)
    assert "pcp_forward_max_connections 5" in render(_snapshot(max_connections=5), {}).splitlines()
    assert text.endswith("\n")


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", b"200 OK"),
        (b"GET /?x=1 HTTP/1.0\r\n\r\n", b"200 OK"),
        (b"GET /other HTTP/1.1\r\n\r\n", b"404 Not Found"),
        (b"POST /metrics HTTP/1.1\r\n\r\n", b"405 Method Not Allowed"),
        (b"nonsense\r\n\r\n", b"400 Bad Request"),
        (b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * 5000, b"431 Request Header Fields Too Large"),
    ],
)
def test_request_parser(request_bytes, status):
    request = MetricsRequest()
    response = None
    for i in range(0, len(request_bytes), 7):  # in small pieces, as TCP may deliver it
        response = request.feed(request_bytes[i : i + 7], lambda: "x 1\n")
        if response is not None:
            break
    assert response is not None and response.startswith(b"HTTP/1.1 " + status)
    assert b"Connection: close" in response


def test_request_waits_for_the_whole_head():
    request = MetricsRequest()
    assert request.feed(b"GET /metrics HTTP/1.1\r\nHost: x\r\n", lambda: "x 1\n") is None
    assert request.feed(b"\r\n", lambda: "x 1\n").endswith(b"\r\n\r\nx 1\n")
