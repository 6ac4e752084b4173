"""The metrics endpoint: counters in the Prometheus text format over a minimal HTTP/1.x.

Nothing here does input or output: :func:`render` turns a snapshot of the
counters into the exposition text, and :class:`MetricsRequest` reads one
request's bytes and says what to answer. Each event loop's backend serves it
on its own sockets, so a scrape sees the counters of the loop's own turn.
"""

from __future__ import annotations

from typing import Any, List, Mapping, Optional, Tuple

__all__ = ["CONTENT_TYPE", "MetricsRequest", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_MAX_REQUEST = 16 * 1024

# name, type, help, snapshot key (or a (label, {value: key}) pair)
_METRICS: List[Tuple[str, str, str, Any]] = [
    ("pcp_forward_connections_open", "gauge",
     "Connections accepted and not yet closed (connecting or forwarding).", "open"),
    ("pcp_forward_connections_total", "counter", "Connections accepted since the start.", "total"),
    ("pcp_forward_connect_failures_total", "counter",
     "Accepted connections whose target could not be reached.", "connect_failures"),
    ("pcp_forward_bytes_total", "counter",
     "Bytes forwarded: up is client to target, down is target to client.",
     ("direction", {"up": "up", "down": "down"})),
    ("pcp_forward_buffered_bytes", "gauge",
     "Bytes held in the proxies' buffers now, waiting for a slow side.",
     ("direction", {"up": "buffered_up", "down": "buffered_down"})),
    ("pcp_forward_pauses_total", "counter",
     "Times a proxy paused the side it reads from because its buffer was full.",
     ("direction", {"up": "pauses_up", "down": "pauses_down"})),
    ("pcp_forward_peak_buffered_bytes", "gauge",
     "The most bytes one direction of one connection has held in its buffer.", "peak"),
    ("pcp_forward_accepting", "gauge",
     "1 while new connections are accepted, 0 when --max-connections is reached or shutting down.",
     "accepting"),
    ("pcp_forward_draining", "gauge", "1 once a shutdown has begun.", "draining"),
    ("pcp_forward_start_time_seconds", "gauge", "When the forwarder started (Unix time).", "start_time"),
]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    return str(int(value))


def render(snapshot: Mapping[str, Any], info: Mapping[str, str]) -> str:
    """The exposition text for *snapshot* (see ``Service.snapshot``), *info* as labels of ``pcp_forward_info``."""
    lines = [
        "# HELP pcp_forward_info pcp-forward's version, event loop and pcp implementation.",
        "# TYPE pcp_forward_info gauge",
        "pcp_forward_info{" + ",".join(f'{k}="{_label(v)}"' for k, v in sorted(info.items())) + "} 1",
    ]
    for name, kind, text, source in _METRICS:
        lines.append(f"# HELP {name} {text}")
        lines.append(f"# TYPE {name} {kind}")
        if isinstance(source, tuple):
            label, keys = source
            for value, key in keys.items():
                lines.append(f'{name}{{{label}="{value}"}} {_number(snapshot[key])}')
        else:
            lines.append(f"{name} {_number(snapshot[source])}")
    if snapshot.get("max_connections"):
        lines += [
            "# HELP pcp_forward_max_connections The --max-connections limit.",
            "# TYPE pcp_forward_max_connections gauge",
            f"pcp_forward_max_connections {snapshot['max_connections']}",
        ]
    return "\n".join(lines) + "\n"


def _response(status: str, body: bytes, content_type: str, head: bool) -> bytes:
    header = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode("ascii")
    return header if head else header + body


class MetricsRequest:
    """One HTTP request to the metrics endpoint, fed as it arrives.

    :meth:`feed` returns None until the request's head is complete, then the
    whole response (the connection is closed after it): ``GET /metrics``
    (or ``/``) gives the exposition text, ``HEAD`` its headers; other paths
    404, other methods 405, a malformed or oversized head 400 / 431.
    """

    def __init__(self) -> None:
        self._data = bytearray()

    def feed(self, data: bytes, scrape: "Any") -> Optional[bytes]:
        """Add *data*; once the head is complete, the response (``scrape()`` gives the text)."""
        self._data += data
        end = self._data.find(b"\r\n\r\n")
        if end < 0:
            end = self._data.find(b"\n\n")
        if end < 0:
            if len(self._data) > _MAX_REQUEST:
                return _response("431 Request Header Fields Too Large", b"request head too large\n",
                                 "text/plain", False)
            return None
        first = bytes(self._data[: self._data.find(b"\n")]).strip()
        parts = first.split()
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
            return _response("400 Bad Request", b"bad request\n", "text/plain", False)
        method, target = parts[0], parts[1].split(b"?", 1)[0]
        head = method == b"HEAD"
        if method not in (b"GET", b"HEAD"):
            return _response("405 Method Not Allowed", b"GET or HEAD only\n", "text/plain", False)
        if target not in (b"/metrics", b"/"):
            return _response("404 Not Found", b"metrics are at /metrics\n", "text/plain", head)
        return _response("200 OK", scrape().encode("utf-8"), CONTENT_TYPE, head)
