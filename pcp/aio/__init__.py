"""pcp on asyncio and uvloop: pcp's proxies between asyncio connections.

Importing ``pcp`` does not import asyncio; importing ``pcp.aio`` does (never
Twisted). Everything here works on the default asyncio loop and on uvloop.

- ``await forward(a, b, *, buffer_size=65536, low_water=None, half_close=True,
  read_size=None) -> ForwardStats``: forward both ways between two connected
  sockets until both are closed; cancelling it aborts both.
- ``async with forwarding(a, b, ...) as conn``: the same as a block; leaving
  it aborts whatever is still open. ``conn`` is a ``Connection``.
- ``await start_server(connect=(host, port), host=None, port=0, *,
  backlog=100, connect_timeout=30.0, buffer_size=65536, low_water=None,
  half_close=True, read_size=None, reuse_address=None, on_open=None,
  on_close=None) -> ForwardServer``: accept, connect each to the target,
  forward. The server has ``close()`` (stop accepting), ``close_connections()``,
  ``abort_connections()``, ``async wait_closed()``, ``sockets``,
  ``addresses``, ``connections`` (live mapping number -> Connection),
  ``accepted``, ``totals() -> Totals``.
- ``Connection``: ``number``, ``client_address``, ``target_address``,
  ``up``/``down`` (live ``Direction``: ``bytes``, ``received``,
  ``discarded``, ``buffered``, ``peak_buffered``, ``pauses``, ``queued``),
  ``forwarded``, ``ended``, ``error``, ``started``, ``done``, ``stats``,
  ``snapshot()``, ``close()`` (graceful), ``abort()``, ``async wait_closed()``.
- ``ForwardStats`` (``up``, ``down``: ``DirectionStats``; ``ended``,
  ``error``, ``seconds``, ``forwarded``).
- The adapters under all of it, for your own protocols: ``TransportConsumer``
  (an asyncio transport as an ``IConsumer``), ``TransportProducer`` (as an
  ``IPushProducer``), ``set_limits``.

See docs/asyncio.md for the guide.
"""

from pcp.aio.adapters import TransportConsumer, TransportProducer, set_limits
from pcp.aio.connection import Connection
from pcp.aio.forwarding import forward, forwarding
from pcp.aio.server import ForwardServer, Totals, start_server
from pcp.aio.stats import Direction, DirectionStats, ForwardStats

__all__ = [
    "Connection",
    "Direction",
    "DirectionStats",
    "ForwardServer",
    "ForwardStats",
    "Totals",
    "TransportConsumer",
    "TransportProducer",
    "forward",
    "forwarding",
    "set_limits",
    "start_server",
]
