"""pcp-forward: a TCP port forwarder with a pcp proxy in each direction.

    pcp-forward --listen HOST:PORT --connect HOST:PORT [--loop asyncio|uvloop|twisted] ...

Each accepted connection is joined to a new connection to the target by two
``pcp.ProducerConsumerProxy`` objects, one each way, so that a slow side
stops the reading on the fast side instead of growing memory; half-closes are
forwarded. It runs on asyncio (the default, nothing extra needed), uvloop
(the ``uvloop`` extra) or Twisted (the ``twisted`` extra), with the same
options, log lines, metrics and exit statuses on each. See
``pcp-forward --help`` and the user guide's forwarder page.

This package imports neither Twisted nor uvloop: ``main`` loads the backend
of the loop asked for. The Twisted classes (``ForwardFactory``,
``Forwarding``, ``ClientSide``, ``TargetSide``) are importable from here and
load Twisted when first used; without it they raise ImportError saying
what to install.
"""

from __future__ import annotations

from typing import Any

from pcp.forward._cli import DEFAULT_LOOP, LOOPS, main, parse_args
from pcp.forward._service import EXIT_CUT, EXIT_ERROR, EXIT_OK, EXIT_USAGE

__all__ = [
    "DEFAULT_LOOP",
    "EXIT_CUT",
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_USAGE",
    "LOOPS",
    "ClientSide",
    "ForwardFactory",
    "Forwarding",
    "TargetSide",
    "main",
    "parse_args",
]

_TWISTED_NAMES = ("ClientSide", "ForwardFactory", "Forwarding", "TargetSide")


def __getattr__(name: str) -> Any:
    """Load the Twisted backend's classes on first use."""
    if name in _TWISTED_NAMES:
        try:
            from pcp.forward import _twisted
        except ImportError as e:
            raise ImportError(
                f"pcp.forward.{name} needs Twisted and zope.interface: "
                f"pip install 'pcp-buffer[twisted]' ({e})"
            ) from e
        return getattr(_twisted, name)
    raise AttributeError(f"module 'pcp.forward' has no attribute {name!r}")
