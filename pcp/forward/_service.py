"""What pcp-forward does whatever the event loop: connections, counters, logs, limits, shutdown.

A backend (asyncio/uvloop or Twisted) moves the bytes; it tells the
:class:`Service` when a connection is accepted, joined to its target, and
finished, and does what the service asks of it through :class:`Backend`
(stop or resume accepting, run something later, stop the loop). So the log
lines, the metrics, ``--max-connections`` and the graceful shutdown are the
same code on every loop.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

from pcp.forward._log import NOTICE, emit, logger
from pcp.forward._units import show_address, show_rate, show_size

__all__ = [
    "EXIT_CUT",
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_USAGE",
    "Backend",
    "Connection",
    "Service",
    "Settings",
    "describe_loss",
]

EXIT_OK = 0
"""Stopped by a signal after every connection finished (a clean drain)."""
EXIT_ERROR = 1
"""Could not start: cannot listen, the event loop asked for is not installed."""
EXIT_USAGE = 2
"""Bad arguments (argparse's usage error)."""
EXIT_CUT = 3
"""Stopped by a signal, but connections still open were closed (drain timeout or a second signal)."""

_STALL_PAUSE = 0.25  # seconds without accepting after running out of file descriptors
_QUIET = 10.0  # seconds between two warnings of the same kind
_AFTER_CUT = 5.0  # seconds to wait for aborted connections to report before stopping anyway


@dataclass(frozen=True)
class Settings:
    """pcp-forward's options, as parsed (see ``pcp-forward --help``)."""

    listen: Tuple[str, int]
    target: Tuple[str, int]
    loop: str = "asyncio"
    buffer_size: Optional[int] = None
    low_water: Optional[int] = None
    read_size: Optional[int] = None
    connect_timeout: float = 30.0
    max_connections: Optional[int] = None
    backlog: int = 4096
    drain_timeout: float = 20.0
    stats: Optional[float] = None
    metrics: Optional[Tuple[str, int]] = None


def describe_loss(error: Optional[BaseException]) -> str:
    """How a side ended: ``closed`` (end-of-file), ``reset``, or ``lost (why)``."""
    if error is None:
        return "closed"
    if isinstance(error, (ConnectionResetError, BrokenPipeError)):
        return "reset"
    if isinstance(error, TimeoutError):
        return "lost (timed out)"
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return f"lost ({text.rstrip('.')})"


class Backend:
    """What the service needs from an event loop; each backend implements it."""

    def now(self) -> float:
        """A monotonic clock, in seconds."""
        raise NotImplementedError

    def call_later(self, delay: float, function: Callable[[], None]) -> Any:
        """Run *function* in *delay* seconds; the result has ``cancel()``."""
        raise NotImplementedError

    def set_accepting(self, accepting: bool) -> None:
        """Start or stop taking connections from the listening socket."""
        raise NotImplementedError

    def close_listener(self) -> None:
        """Close the listening socket for good (shutdown)."""
        raise NotImplementedError

    def stop(self, code: int) -> None:
        """Close the metrics endpoint and stop the loop; ``main`` returns *code*."""
        raise NotImplementedError


class Connection:
    """One accepted connection as the service sees it; a backend subclasses it.

    ``up`` and ``down`` are the proxies (or any object with ``bytesSent``,
    ``bufferedBytes``, ``peakBufferedBytes`` and ``producerPauses``) once the
    target is connected, None before. ``first_end`` says which side ended
    first and how ("client closed", "target reset"); ``cut`` is set when a
    shutdown closed the connection.
    """

    up: Any = None
    down: Any = None

    def __init__(self, service: "Service", client: str) -> None:
        self.service = service
        self.client = client
        self.number = 0
        self.started = service.backend.now()
        self.first_end: Optional[str] = None
        self.connect_error: Optional[str] = None
        self.cut: Optional[str] = None
        self.done = False

    def ended(self, side: str, how: str) -> None:
        """Record that *side* ended (*how*), if it is the first thing to end."""
        if self.first_end is None:
            self.first_end = f"{side} {how}"

    def forwarded(self) -> bool:
        """The target was connected and the two sides joined."""
        return self.up is not None

    def undelivered(self) -> int:
        """Bytes read from one side and not handed on to the other (buffered or discarded)."""
        return sum(p.bytesReceived + p.bytesDiscarded - p.bytesSent
                   for p in (self.up, self.down) if p is not None)

    def abort(self) -> None:
        """Close both sides now, dropping what is buffered (a shutdown's last resort)."""
        raise NotImplementedError

    def describe(self) -> str:
        """A short description of the connection's state, for the log."""
        return f"connection {self.number} from {self.client}"


class Service:
    """Bookkeeping, logging, limits and the shutdown sequence of one pcp-forward run."""

    def __init__(self, settings: Settings, backend: Backend, info: Dict[str, str]) -> None:
        self.settings = settings
        self.backend = backend
        self.info = info
        self.target = show_address(*settings.target)
        self.live: Dict[int, Connection] = {}
        self.count = 0
        self.connect_failures = 0
        self.closed = dict(up=0, down=0, pauses_up=0, pauses_down=0, peak=0)
        self.accepting = True
        self.draining = False
        self.exit_code: Optional[int] = None
        self.start_time = time.time()
        self._stalled = False
        self._cutting = False
        self._drain_started = 0.0
        self._drain_open = 0
        self._timer: Any = None
        self._quiet: Dict[str, float] = {}
        self._last_totals: Optional[Tuple[float, int, int]] = None

    # -- connections ----------------------------------------------------------------

    def room(self, batch: int) -> int:
        """How many connections may be accepted now (at most *batch*)."""
        if not self.accepting:
            return 0
        limit = self.settings.max_connections
        return batch if limit is None else max(0, min(batch, limit - len(self.live)))

    def accepted(self, conn: Connection) -> None:
        """A client connected; the backend is connecting to the target for it."""
        self.count += 1
        conn.number = self.count
        self.live[conn.number] = conn
        if logger.isEnabledFor(logging.INFO):
            emit(logging.INFO, "connection_opened",
                 f"connection {conn.number} from {conn.client} accepted, connecting to {self.target} "
                 f"({len(self.live)} open)",
                 connection=conn.number, client=conn.client, target=self.target, open=len(self.live))
        self._update_accepting()

    def connected(self, conn: Connection) -> None:
        """The target accepted the connection: bytes flow both ways from now on."""
        if logger.isEnabledFor(logging.DEBUG):
            emit(logging.DEBUG, "connection_forwarding",
                 f"connection {conn.number} connected to {self.target} in "
                 f"{(self.backend.now() - conn.started) * 1000:.1f} ms",
                 connection=conn.number)

    def connect_failed(self, conn: Connection, why: str) -> None:
        """The target could not be reached for *conn* (the backend then closes the client)."""
        self.connect_failures += 1
        conn.connect_error = why

    def finished(self, conn: Connection) -> None:
        """Both sides of *conn* are closed: fold its counters in and log its line."""
        if conn.done:
            return
        conn.done = True
        self.live.pop(conn.number, None)
        for proxy, direction in ((conn.up, "up"), (conn.down, "down")):
            if proxy is not None:
                self.closed[direction] += proxy.bytesSent
                self.closed["pauses_" + direction] += proxy.producerPauses
                self.closed["peak"] = max(self.closed["peak"], proxy.peakBufferedBytes)
        self._log_finished(conn)
        self._update_accepting()
        if self.draining and not self.live:
            self._drained()

    def _log_finished(self, conn: Connection) -> None:
        level = logging.WARNING if conn.connect_error is not None and not conn.forwarded() else logging.INFO
        if not logger.isEnabledFor(level):
            return
        seconds = self.backend.now() - conn.started
        where = f"connection {conn.number} {conn.client} -> {self.target}"
        fields: Dict[str, Any] = dict(connection=conn.number, client=conn.client, target=self.target,
                                      seconds=round(seconds, 6))
        if not conn.forwarded():
            if conn.connect_error is not None:
                why, level = f"connecting to the target failed: {conn.connect_error}", logging.WARNING
            elif conn.cut is not None:
                why, level = f"cut by the shutdown ({conn.cut}) while connecting to the target", logging.INFO
            else:
                why, level = f"{conn.first_end or 'client closed'} while connecting to the target", logging.INFO
            emit(level, "connection_not_forwarded", f"{where}: not forwarded, {why} ({seconds:.3f}s)",
                 reason=why, **fields)
            return
        up, down = conn.up, conn.down
        how = f"cut by the shutdown ({conn.cut})" if conn.cut else f"{conn.first_end or 'closed'} first"
        undelivered = conn.undelivered()
        emit(logging.INFO, "connection_closed",
             f"{where} closed after {seconds:.3f}s, {how}: "
             f"{up.bytesSent} bytes up ({show_size(up.bytesSent)}, {show_rate(up.bytesSent, seconds)}), "
             f"{down.bytesSent} bytes down ({show_size(down.bytesSent)}, {show_rate(down.bytesSent, seconds)}), "
             f"peak buffered {up.peakBufferedBytes} up / {down.peakBufferedBytes} down, "
             f"pauses {up.producerPauses} up / {down.producerPauses} down"
             + (f", {undelivered} bytes not delivered" if undelivered else ""),
             how=conn.first_end, cut=conn.cut, bytes_up=up.bytesSent, bytes_down=down.bytesSent,
             peak_buffered_up=up.peakBufferedBytes, peak_buffered_down=down.peakBufferedBytes,
             pauses_up=up.producerPauses, pauses_down=down.producerPauses, undelivered=undelivered,
             **fields)

    # -- accepting ------------------------------------------------------------------

    def _quietly(self, kind: str) -> bool:
        now = self.backend.now()
        if now - self._quiet.get(kind, -_QUIET) < _QUIET:
            return False
        self._quiet[kind] = now
        return True

    def _update_accepting(self) -> None:
        limit = self.settings.max_connections
        want = not (self.draining or self._stalled or (limit is not None and len(self.live) >= limit))
        if want == self.accepting:
            return
        self.accepting = want
        if self.draining:
            return
        self.backend.set_accepting(want)
        if not want and not self._stalled and self._quietly("max"):
            emit(logging.WARNING, "max_connections",
                 f"{limit} connections open (--max-connections): new ones wait in the listen queue "
                 "until one closes", max_connections=limit)

    def accept_failed(self, error: OSError) -> None:
        """accept() ran out of file descriptors or memory: pause accepting briefly."""
        if self._quietly("stall"):
            emit(logging.WARNING, "accept_stalled",
                 f"cannot accept connections: {error.strerror or error}; retrying every "
                 f"{_STALL_PAUSE}s ({len(self.live)} open)", error=str(error), open=len(self.live))
        self._stalled = True
        self._update_accepting()

        def retry() -> None:
            self._stalled = False
            self._update_accepting()

        self.backend.call_later(_STALL_PAUSE, retry)

    # -- counters -------------------------------------------------------------------

    def snapshot(self) -> Dict[str, Any]:
        """The counters over every connection so far, open or closed (metrics and totals)."""
        snap: Dict[str, Any] = dict(self.closed)
        snap.update(buffered_up=0, buffered_down=0)
        for conn in self.live.values():
            for proxy, direction in ((conn.up, "up"), (conn.down, "down")):
                if proxy is not None:
                    snap[direction] += proxy.bytesSent
                    snap["pauses_" + direction] += proxy.producerPauses
                    snap["buffered_" + direction] += proxy.bufferedBytes
                    snap["peak"] = max(snap["peak"], proxy.peakBufferedBytes)
        snap.update(open=len(self.live), total=self.count, connect_failures=self.connect_failures,
                    accepting=self.accepting, draining=self.draining, start_time=self.start_time,
                    max_connections=self.settings.max_connections or 0)
        return snap

    def log_totals(self, when: str = "totals") -> None:
        """One line of totals (with the rates since the last such line)."""
        snap = self.snapshot()
        now = self.backend.now()
        last_time, last_up, last_down = self._last_totals or (now, snap["up"], snap["down"])
        self._last_totals = (now, snap["up"], snap["down"])
        rates = ""
        if now > last_time:
            rates = (f" ({show_rate(snap['up'] - last_up, now - last_time)} up, "
                     f"{show_rate(snap['down'] - last_down, now - last_time)} down)")
        buffered = snap["buffered_up"] + snap["buffered_down"]
        pauses = snap["pauses_up"] + snap["pauses_down"]
        emit(NOTICE if when == "stopping" else logging.INFO, "totals",
             f"{when}: connections {snap['open']} open / {snap['total']} total, "
             f"{snap['up']} bytes up ({show_size(snap['up'])}), "
             f"{snap['down']} bytes down ({show_size(snap['down'])}){rates}, "
             f"{buffered} bytes buffered now, peak buffered {snap['peak']}, {pauses} pauses",
             when=when, **{k: v for k, v in snap.items() if k not in ("accepting", "draining")})

    def start_stats(self) -> None:
        """Log the totals every ``--stats`` seconds."""
        interval = self.settings.stats
        if not interval:
            return

        def tick() -> None:
            if self.exit_code is None:
                self.log_totals()
                self.backend.call_later(interval, tick)

        self._last_totals = (self.backend.now(), 0, 0)
        self.backend.call_later(interval, tick)

    # -- shutdown -------------------------------------------------------------------

    def shutdown(self, signal_name: str) -> None:
        """A signal asked to stop: drain (first signal) or close what is left (second)."""
        if self.exit_code is not None:
            return
        if self.draining:
            if not self._cutting:
                self._cut(f"second {signal_name}")
            return
        self.draining = True
        self.accepting = False
        self._drain_started = self.backend.now()
        self._drain_open = len(self.live)
        self.backend.close_listener()
        timeout = self.settings.drain_timeout
        open_now = len(self.live)
        emit(NOTICE, "shutdown",
             f"shutting down on {signal_name}: no longer accepting; "
             + (f"draining {open_now} open connection{'s' * (open_now != 1)} for up to {timeout:g}s "
                f"({signal_name} again closes them at once)" if open_now else "no connections open"),
             signal=signal_name, open=open_now, drain_timeout=timeout)
        if not self.live:
            self._drained()
        elif timeout == 0:
            self._cut("--drain-timeout 0")
        else:
            self._timer = self.backend.call_later(timeout, lambda: self._cut(f"drain timeout {timeout:g}s"))

    def _cut(self, why: str) -> None:
        self._cutting = True
        if self._timer is not None:
            self._timer.cancel()
        emit(logging.WARNING, "shutdown_cut",
             f"shutdown: {why}: closing the {len(self.live)} connection{'s' * (len(self.live) != 1)} still open",
             reason=why, open=len(self.live))
        for conn in list(self.live.values()):
            conn.cut = why
            conn.abort()
        if self.live:
            self._timer = self.backend.call_later(_AFTER_CUT, self._stop_anyway)

    def _stop_anyway(self) -> None:
        stuck = "; ".join(conn.describe() for conn in self.live.values())
        emit(logging.ERROR, "shutdown_stuck",
             f"shutdown: {len(self.live)} connections did not report closing; stopping anyway: {stuck}",
             open=len(self.live))
        self._stop(EXIT_CUT)

    def _drained(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        seconds = self.backend.now() - self._drain_started
        if self._cutting:
            self._stop(EXIT_CUT)
            return
        if self._drain_open:
            emit(NOTICE, "drained", f"shutdown: every connection finished, drained in {seconds:.3f}s",
                 seconds=round(seconds, 6))
        self._stop(EXIT_OK)

    def _stop(self, code: int) -> None:
        if self.exit_code is not None:
            return
        self.exit_code = code
        self.log_totals("stopping")
        emit(NOTICE, "stopped", f"stopped (exit status {code})", exit_status=code)
        self.backend.stop(code)
