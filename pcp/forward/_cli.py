"""pcp-forward's command line: options, checks, and starting the chosen event loop."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, Dict, List, Optional, Sequence

import pcp
from pcp.forward._listen import DEFAULT_BACKLOG, Listener, open_listener
from pcp.forward._log import LEVELS, NOTICE, emit, setup
from pcp.forward._service import EXIT_ERROR, Service, Settings
from pcp.forward._units import (
    parse_address,
    parse_bytes,
    parse_count,
    parse_seconds,
    show_address,
    show_size,
)

__all__ = ["DEFAULT_LOOP", "LOOPS", "main", "parse_args", "settings_from"]

LOOPS = ("asyncio", "uvloop", "twisted")
DEFAULT_LOOP = "asyncio"
"""asyncio: the one loop every install has (no extra), so ``pcp-forward`` behaves
the same wherever it runs; uvloop and Twisted are chosen explicitly."""

_EXTRAS = {"uvloop": ("uvloop", "uvloop"), "twisted": ("Twisted and zope.interface", "twisted")}


def _version_text() -> str:
    from importlib import metadata

    loops = ["asyncio"]
    for name, dist in (("uvloop", "uvloop"), ("twisted", "Twisted")):
        try:
            loops.append(f"{name} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            loops.append(f"{name} not installed")
    kind = "compiled" if pcp.EXTENSIONS else "pure Python"
    return (f"pcp-forward {pcp.__version__} (pcp {kind}, Python {sys.version.split()[0]}; "
            f"loops: {', '.join(loops)})")


class _Version(argparse.Action):
    def __init__(self, option_strings: List[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and the loops installed, and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option: Any = None) -> None:
        print(_version_text())
        parser.exit(0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pcp-forward",
        description=(
            "Forward TCP connections both ways with a pcp proxy in each direction: "
            "a slow side stops the reading on the fast side instead of growing memory. "
            "SIGTERM or Ctrl-C stops accepting and lets open connections finish "
            "(up to --drain-timeout); a second one closes them at once."
        ),
        epilog=("Exit status: 0 after a clean drain, 1 when it cannot start (address in use, "
                "loop not installed), 2 for bad arguments, 3 when a shutdown had to close "
                "connections still open."),
    )
    parser.add_argument("--version", action=_Version)
    parser.add_argument("--listen", required=True, type=parse_address(True), metavar="HOST:PORT",
                        help="address to accept connections on; :PORT means every interface "
                             "(IPv4 and IPv6); port 0: any free port")
    parser.add_argument("--connect", required=True, type=parse_address(False), metavar="HOST:PORT",
                        help="address to forward each connection to")
    parser.add_argument("--loop", choices=LOOPS, default=DEFAULT_LOOP,
                        help=f"event loop (default {DEFAULT_LOOP}, needs nothing extra; "
                             "uvloop needs pcp-buffer[uvloop], twisted pcp-buffer[twisted])")
    parser.add_argument("--buffer-size", type=parse_bytes, metavar="BYTES",
                        help="high-water mark of each direction's buffer (default 65536; K, M, G suffixes)")
    parser.add_argument("--low-water", type=parse_bytes, metavar="BYTES",
                        help="reading resumes once the buffer falls to this (default buffer-size/4)")
    parser.add_argument("--read-size", type=parse_bytes, metavar="BYTES",
                        help="bytes read from a socket at a time (default: the loop's, 256 KiB on "
                             "asyncio and uvloop, 64 KiB on Twisted, where it is also the transport's "
                             "write-buffer threshold)")
    parser.add_argument("--connect-timeout", type=parse_seconds(), default=30.0, metavar="SECONDS",
                        help="give up connecting to the target after this long (default 30)")
    parser.add_argument("--max-connections", type=parse_count, metavar="N",
                        help="at most N connections at once; more wait in the listen queue "
                             "(default: no limit)")
    parser.add_argument("--backlog", type=parse_count, default=DEFAULT_BACKLOG, metavar="N",
                        help=f"listen queue length (default {DEFAULT_BACKLOG}; the kernel caps it at "
                             "net.core.somaxconn)")
    parser.add_argument("--drain-timeout", type=parse_seconds(allow_zero=True), default=20.0,
                        metavar="SECONDS",
                        help="on SIGTERM or SIGINT, wait this long for open connections to finish "
                             "before closing them (default 20; 0: close at once)")
    parser.add_argument("--metrics", type=parse_address(True), metavar="HOST:PORT",
                        help="serve counters in the Prometheus text format at http://HOST:PORT/metrics")
    parser.add_argument("--stats", type=parse_seconds(), metavar="SECONDS",
                        help="log the totals every SECONDS")
    parser.add_argument("--log-level", choices=list(LEVELS), default="info",
                        help="least important messages logged (default info: one line per connection "
                             "opened and closed; notice: only the forwarder's start, shutdown and stop; "
                             "warning: only what needs attention)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="text lines, or one JSON object per line (default text)")
    return parser


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse pcp-forward's arguments; bad ones exit with a usage error (status 2)."""
    parser = _parser()
    args = parser.parse_args(argv)
    for name in ("buffer_size", "read_size"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1 byte")
    size = args.buffer_size if args.buffer_size is not None else pcp.ProducerConsumerProxy(None).bufferSize
    if args.low_water is not None and args.low_water > size:
        parser.error(f"--low-water ({args.low_water}) must not exceed --buffer-size ({size})")
    if args.metrics is not None and args.metrics == args.listen and args.listen[1] != 0:
        parser.error("--metrics must not use the --listen address")
    return args


def settings_from(args: argparse.Namespace) -> Settings:
    """The Settings of parsed arguments."""
    return Settings(
        listen=args.listen, target=args.connect, loop=args.loop, buffer_size=args.buffer_size,
        low_water=args.low_water, read_size=args.read_size, connect_timeout=args.connect_timeout,
        max_connections=args.max_connections, backlog=args.backlog, drain_timeout=args.drain_timeout,
        stats=args.stats, metrics=args.metrics,
    )


def _fail(message: str) -> int:
    print(f"pcp-forward: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def _load_backend(loop: str) -> Any:
    """The backend module for *loop*; ImportError names the extra to install."""
    import importlib

    try:
        if loop == "uvloop":
            import uvloop  # noqa: F401
        return importlib.import_module("pcp.forward._twisted" if loop == "twisted" else "pcp.forward._asyncio")
    except ImportError as e:
        if loop not in _EXTRAS or (e.name or "").split(".")[0] not in ("uvloop", "twisted", "zope"):
            raise
        what, extra = _EXTRAS[loop]
        raise ImportError(f"--loop {loop} needs {what}: pip install 'pcp-buffer[{extra}]' ({e})") from e


def _where(listener: Listener) -> str:
    host, port = listener.address
    shown = show_address(host, port)
    if not listener.every_interface:
        return shown
    return f"{shown}, every interface ({'IPv4 and IPv6' if listener.dual_stack else 'IPv4'})"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run pcp-forward until a signal stops it; return the exit status."""
    args = parse_args(argv)
    settings = settings_from(args)
    try:
        backend = _load_backend(settings.loop)
    except ImportError as e:
        return _fail(str(e))
    setup(args.log_level, args.log_format)
    listen_host, listen_port = settings.listen
    try:
        listener = open_listener(listen_host, listen_port, settings.backlog)
    except OSError as e:
        return _fail(f"cannot listen on {show_address(listen_host, listen_port)}: {e}")
    metrics: Optional[Listener] = None
    if settings.metrics is not None:
        try:
            metrics = open_listener(settings.metrics[0], settings.metrics[1], 64)
        except OSError as e:
            listener.sock.close()
            return _fail(f"cannot serve metrics on {show_address(*settings.metrics)}: {e}")
    size = settings.buffer_size if settings.buffer_size is not None else pcp.ProducerConsumerProxy(None).bufferSize
    low = settings.low_water if settings.low_water is not None else size // 4
    kind = "compiled" if pcp.EXTENSIONS else "pure Python"
    info: Dict[str, str] = {"version": pcp.__version__, "loop": settings.loop, "pcp": kind}

    def started(service: Service, metrics_at: str) -> None:
        backlog = listener.effective_backlog
        emit(NOTICE, "listening",
             f"listening on {_where(listener)}, forwarding to {service.target} "
             f"(buffer {size} bytes each way ({show_size(size)}), low water {low}, pcp {kind}, "
             f"loop {settings.loop}, backlog {backlog}"
             + (f", max connections {settings.max_connections}" if settings.max_connections else "")
             + ")",
             listen=show_address(*listener.address), every_interface=listener.every_interface,
             target=service.target, buffer_size=size, low_water=low, pcp=kind, loop=settings.loop,
             backlog=backlog, max_connections=settings.max_connections, version=pcp.__version__)
        if backlog < settings.backlog:
            emit(logging.WARNING, "backlog_capped",
                 f"--backlog {settings.backlog} is capped to {backlog} by the kernel (net.core.somaxconn)",
                 requested=settings.backlog, backlog=backlog)
        if metrics_at:
            emit(NOTICE, "metrics", f"metrics at http://{metrics_at}/metrics", metrics=metrics_at)

    return int(backend.run(settings, listener, metrics, info, started))
