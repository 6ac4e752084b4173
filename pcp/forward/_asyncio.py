"""pcp-forward on asyncio (``--loop asyncio``, the default) and uvloop (``--loop uvloop``).

Each accepted socket becomes a ``pcp.aio`` connection: a
``pcp.ProducerConsumerProxy`` each way between the client's transport and
the target's, with the transports' write-buffer limits following pcp's marks
and half-closes forwarded. The listening socket is pcp-forward's own (see
``pcp.forward._listen``). Without ``--max-connections`` the loop accepts from
it (``loop.create_server(sock=...)``: its accept, in C on uvloop, makes each
transport with no task of ours); with ``--max-connections`` pcp-forward
accepts itself, watching the socket with ``loop.add_reader`` so that
accepting can stop at the limit (an asyncio or uvloop server cannot pause).
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import socket
from typing import Any, Callable, Dict, Optional, Set

from pcp.aio.connection import Connection as Link
from pcp.forward._listen import ACCEPT_BATCH, Listener, accept_some
from pcp.forward._metrics import MetricsRequest, render
from pcp.forward._service import Backend, Connection, Service, Settings, describe_loss
from pcp.forward._units import show_address

__all__ = ["AsyncioBackend", "Forwarding", "run"]

_METRICS_REQUEST_TIMEOUT = 10.0
_DEFAULT_BUFFER = 65536


def connect_error(error: Optional[BaseException], timeout: float) -> str:
    """Why connecting to the target failed, in the words every loop uses."""
    if error is None:
        return "unknown error"
    if isinstance(error, (asyncio.TimeoutError, TimeoutError)):
        return f"timed out after {timeout:g}s"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host ({error.strerror or error})"
    number = getattr(error, "errno", None)
    if isinstance(number, int) and number in errno.errorcode:
        return os.strerror(number)
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


class Forwarding(Connection):
    """One forwarded connection on asyncio: the service's record over a ``pcp.aio`` connection.

    The backend connects the target itself (``connect``), so that it knows
    when the target is reached, can time the attempt out, and can stop it when
    the client goes away or a shutdown cuts the connection.
    """

    def __init__(self, service: Service, client: str, link: Link) -> None:
        super().__init__(service, client)
        self.link = link
        self.up = link.up.proxy
        self.down = link.down.proxy
        self.connecting: Optional["asyncio.Task[None]"] = None
        self.timed_out = False

    def forwarded(self) -> bool:
        """The target was connected and the two sides joined."""
        return bool(self.link.forwarded)

    def abort(self) -> None:
        """Close both sides now (and stop connecting to the target)."""
        if self.connecting is not None and self.link.target.transport is None:
            # Only while no transport exists: cancelling create_connection after
            # the target's transport was made loses its connection_lost on uvloop.
            self.connecting.cancel()
        self.link.abort()

    def describe(self) -> str:
        """The connection and its link's state."""
        link = self.link
        return (f"connection {self.number} from {self.client} ({link!r}; client transport "
                f"{link.client.transport!r}, target transport {link.target.transport!r}, "
                f"connecting {self.connecting!r})")

    async def connect(self, loop: asyncio.AbstractEventLoop) -> None:
        """Connect the link's target side; on failure close the client (after logging why)."""
        settings = self.service.settings
        host, port = settings.target
        self.connecting = asyncio.current_task()
        timer = loop.call_later(settings.connect_timeout, self._time_out)
        link = self.link
        try:
            await loop.create_connection(lambda: link.target, host, port)
        except asyncio.CancelledError:
            if not self.timed_out:
                return  # the client went away, or a shutdown cut the connection
            self._failed(f"timed out after {settings.connect_timeout:g}s")
        except Exception as exc:  # refused, unreachable, cannot resolve
            self._failed(connect_error(exc, settings.connect_timeout))
        else:
            if link.forwarded:
                self.service.connected(self)
        finally:
            timer.cancel()
            self.connecting = None

    def _time_out(self) -> None:
        # Not once the target's transport is made (connected in time): see abort.
        if self.connecting is not None and self.link.target.transport is None:
            self.timed_out = True
            self.connecting.cancel()

    def _failed(self, why: str) -> None:
        self.service.connect_failed(self, why)
        transport = self.link.client.transport
        if transport is not None:
            transport.close()  # the client sees end-of-file
        else:
            self.link.abort()

    def closed(self, link: Link) -> None:
        """The link is over: say how it ended, then let the service log it."""
        if self.connecting is not None:
            self.connecting.cancel()  # the client left while the target was being connected
        ended, error = link.ended or "closed", link.error
        side, _, rest = ended.partition(" ")
        if side in ("client", "target") and self.connect_error is None:
            self.ended(side, describe_loss(error) if error is not None else "closed")
        self.service.finished(self)


class AsyncioBackend(Backend):
    """The service's view of an asyncio (or uvloop) event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, listener: Listener) -> None:
        self.loop = loop
        self.listener: Optional[Listener] = listener
        self.reading = False
        self.service: Optional[Service] = None
        self.tasks: Set["asyncio.Task[None]"] = set()
        self.stopped: "asyncio.Future[int]" = loop.create_future()
        self.server: Optional[asyncio.AbstractServer] = None  # the loop's own accept, if used

    async def serve(self) -> None:
        """Start accepting: the loop's own accept when no limit is set, else ours."""
        service = self.service
        if self.listener is None or service is None:
            return
        if service.settings.max_connections is None:
            # backlog: create_server calls listen() again; keep ours.
            self.server = await self.loop.create_server(self._link, sock=self.listener.sock,
                                                        backlog=service.settings.backlog)
            self.reading = True
        else:
            self.set_accepting(True)

    def now(self) -> float:
        """The loop's clock."""
        return self.loop.time()

    def call_later(self, delay: float, function: Callable[[], None]) -> Any:
        """``loop.call_later``."""
        return self.loop.call_later(delay, function)

    def set_accepting(self, accepting: bool) -> None:
        """Watch the listening socket or not (the loop's own accept cannot pause: see ``serve``)."""
        if self.listener is None or accepting == self.reading or self.server is not None:
            return
        self.reading = accepting
        if accepting:
            self.loop.add_reader(self.listener.sock.fileno(), self._accept)
        else:
            self.loop.remove_reader(self.listener.sock.fileno())

    def close_listener(self) -> None:
        """Close the listening socket."""
        self.set_accepting(False)
        if self.server is not None:
            self.server.close()  # closes the listening socket too
        if self.listener is not None:
            self.listener.sock.close()
            self.listener = None

    def stop(self, code: int) -> None:
        """Let ``run`` return *code*."""
        if not self.stopped.done():
            self.stopped.set_result(code)

    def _accept(self) -> None:
        service = self.service
        if self.listener is None or service is None:
            return
        room = service.room(ACCEPT_BATCH)
        accepted, failure = accept_some(self.listener.sock, room) if room else ([], None)
        for sock, address in accepted:
            link = self._new_link()
            record = self._record(link, address)
            task = self.loop.create_task(self._start(sock, record))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        if failure is not None:
            service.accept_failed(failure)

    def _new_link(self) -> Link:
        assert self.service is not None
        settings = self.service.settings
        return Link(self.loop, buffer_size=settings.buffer_size or _DEFAULT_BUFFER,
                    low_water=settings.low_water, read_size=settings.read_size)

    def _record(self, link: Link, address: Any) -> Forwarding:
        service = self.service
        assert service is not None
        client = show_address(str(address[0]), address[1]) if address else "an unknown address"
        record = Forwarding(service, client, link)
        link.on_close = record.closed
        service.accepted(record)
        link.number = record.number
        return record

    def _link(self) -> asyncio.BaseProtocol:
        """The loop's server accepted a connection: its client side (see ``_client_made``)."""
        link = self._new_link()
        link._client_made = self._client_made
        return link.client

    def _client_made(self, link: Link) -> None:
        # The client's transport is made (the loop's own accept): record it,
        # then connect its target; one task per connection, as in any
        # asyncio forwarder.
        record = self._record(link, link.client_address)
        task = self.loop.create_task(record.connect(self.loop))
        record.connecting = task  # cancelled if the client goes before the task has started
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _start(self, sock: socket.socket, record: Forwarding) -> None:
        link = record.link
        try:
            await self.loop.connect_accepted_socket(lambda: link.client, sock)
        except Exception:
            sock.close()
            link.abort()
            return
        if not link.done and link.client.transport is not None:
            await record.connect(self.loop)


class _MetricsProtocol(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop, scrape: Callable[[], str]) -> None:
        self.loop = loop
        self.scrape = scrape
        self.request = MetricsRequest()
        self.transport: Any = None
        self.timer: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.timer = self.loop.call_later(_METRICS_REQUEST_TIMEOUT, transport.abort)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        response = self.request.feed(data, self.scrape)
        if response is not None:
            self.transport.write(response)
            self.transport.close()

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        if self.timer is not None:
            self.timer.cancel()


async def _serve(settings: Settings, listener: Listener, metrics: Optional[Listener],
                 info: Dict[str, str], started: Callable[[Service, str], None]) -> int:
    loop = asyncio.get_running_loop()
    backend = AsyncioBackend(loop, listener)
    service = Service(settings, backend, info)
    backend.service = service
    server = None
    metrics_at = ""
    if metrics is not None:
        server = await loop.create_server(
            lambda: _MetricsProtocol(loop, lambda: render(service.snapshot(), info)), sock=metrics.sock)
        metrics_at = show_address(*metrics.address)
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, service.shutdown, signal.Signals(number).name)
    try:
        await backend.serve()
        service.start_stats()
        started(service, metrics_at)
        code = await backend.stopped
    finally:
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(number)
        backend.close_listener()
        if server is not None:
            server.close()
    return code


def run(settings: Settings, listener: Listener, metrics: Optional[Listener],
        info: Dict[str, str], started: Callable[[Service, str], None]) -> int:
    """Serve on *listener* on a new asyncio or uvloop loop until a signal stops it; the exit status."""
    loop: asyncio.AbstractEventLoop
    if settings.loop == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(_serve(settings, listener, metrics, info, started))
    finally:
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
