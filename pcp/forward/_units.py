"""Reading and writing the quantities pcp-forward deals in: addresses, byte counts, seconds.

The parsers raise ``argparse.ArgumentTypeError`` with a message fit for a
usage error; the formatters give the human-readable forms used in the logs.
"""

from __future__ import annotations

import argparse
import re
from typing import Callable, Tuple

__all__ = [
    "parse_address",
    "parse_bytes",
    "parse_count",
    "parse_seconds",
    "show_address",
    "show_rate",
    "show_size",
]

_ADDRESS = re.compile(r"\[(?P<v6>[^\]]+)\]:(?P<port6>\d+)|(?P<host>[^:\[\]]*):(?P<port>\d+)")
_BYTES = re.compile(r"(\d+)\s*(?:([kmg])(?:i?b)?|b)?", re.IGNORECASE)
_UNITS = {None: 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_address(allow_any_host: bool) -> Callable[[str], Tuple[str, int]]:
    """A parser of ``HOST:PORT`` / ``[V6]:PORT`` into ``(host, port)``.

    With *allow_any_host* the host may be empty (``:8080``, every interface)
    and the port 0 (any free port); otherwise both are required.
    """

    def parse(text: str) -> Tuple[str, int]:
        match = _ADDRESS.fullmatch(text.strip())
        if match is None:
            raise argparse.ArgumentTypeError(f"expected HOST:PORT (e.g. 127.0.0.1:8080), got {text!r}")
        host = match["v6"] if match["v6"] is not None else match["host"]
        port = int(match["port6"] if match["v6"] is not None else match["port"])
        if not host and not allow_any_host:
            raise argparse.ArgumentTypeError(f"a host is needed in {text!r}")
        if not (0 if allow_any_host else 1) <= port <= 65535:
            raise argparse.ArgumentTypeError(f"port {port} out of range in {text!r}")
        return host, port

    return parse


def parse_bytes(text: str) -> int:
    """``65536``, ``64K``, ``1M``, ``2MiB``, ``1G``: a byte count (binary multiples)."""
    match = _BYTES.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"expected a byte count such as 65536, 64K or 1M, got {text!r}")
    return int(match[1]) * _UNITS[match[2].lower() if match[2] else None]


def parse_count(text: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {text!r}")
    return value


def _seconds(text: str, allow_zero: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value != value or value == float("inf") or value < 0 or (value == 0 and not allow_zero):
        kind = "a number of seconds, 0 or more" if allow_zero else "a positive number of seconds"
        raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}")
    return value


def parse_seconds(allow_zero: bool = False) -> Callable[[str], float]:
    """A parser of a finite number of seconds, positive (or, with *allow_zero*, 0 or more)."""
    return lambda text: _seconds(text, allow_zero)


def show_address(host: str, port: int) -> str:
    """``host:port``, with brackets around an IPv6 host."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def show_size(count: float) -> str:
    """A byte count for people: ``512 B``, ``64.0 KiB``, ``1.5 MiB``, ``2.00 GiB``."""
    if count < 1024:
        return f"{int(count)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        count /= 1024
        if count < 1024 or unit == "TiB":
            break
    return f"{count:.2f} {unit}" if unit in ("GiB", "TiB") else f"{count:.1f} {unit}"


def show_rate(count: float, seconds: float) -> str:
    """Bytes per second for people (``12.3 MiB/s``); ``-`` when no time has passed."""
    if seconds <= 0:
        return "-"
    return show_size(count / seconds) + "/s"
