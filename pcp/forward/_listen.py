"""Listening sockets made the same way for every event loop, and accepting from them.

pcp-forward opens its listening socket itself, so that the address family,
``SO_REUSEADDR``, the dual-stack choice for ``:PORT`` and the backlog are the
same on asyncio, uvloop and Twisted, and each backend accepts through
:func:`accept_some`, which takes at most as many connections as there is
room for under ``--max-connections``.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Any, List, Optional, Tuple

__all__ = [
    "ACCEPT_BATCH",
    "DEFAULT_BACKLOG",
    "Listener",
    "accept_some",
    "kernel_backlog_cap",
    "open_listener",
]

DEFAULT_BACKLOG = 4096
ACCEPT_BATCH = 128
_SOMAXCONN = "/proc/sys/net/core/somaxconn"
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class Listener:
    """A listening socket and what to say about it.

    ``every_interface`` is true for an empty host (``--listen :PORT``);
    ``dual_stack`` when one IPv6 socket takes IPv4 connections too.
    """

    def __init__(self, sock: socket.socket, every_interface: bool, dual_stack: bool,
                 backlog: int, backlog_cap: Optional[int]) -> None:
        self.sock = sock
        self.every_interface = every_interface
        self.dual_stack = dual_stack
        self.backlog = backlog
        self.backlog_cap = backlog_cap

    @property
    def family(self) -> int:
        """The socket's address family."""
        return self.sock.family

    @property
    def address(self) -> Tuple[str, int]:
        """The (host, port) bound, with the port chosen by the kernel for port 0."""
        name = self.sock.getsockname()
        return name[0], name[1]

    @property
    def effective_backlog(self) -> int:
        """The backlog the kernel applies: the one asked for, capped by somaxconn (Linux)."""
        return min(self.backlog, self.backlog_cap) if self.backlog_cap else self.backlog


def kernel_backlog_cap() -> Optional[int]:
    """``net.core.somaxconn``, the kernel's cap on a listen backlog, where it can be read."""
    try:
        with open(_SOMAXCONN) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _bind(family: int, address: Tuple[Any, ...], dual_stack: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if os.name == "posix":  # rebind at once after a restart (TIME_WAIT), as asyncio and Twisted do
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and hasattr(socket, "IPV6_V6ONLY"):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if dual_stack else 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def open_listener(host: str, port: int, backlog: int) -> Listener:
    """Bind and listen on *host*:*port*; an empty *host* means every interface.

    Every interface is one IPv6 socket on ``::`` that also takes IPv4
    (dual stack), or ``0.0.0.0`` where IPv6 is unavailable. A host name is
    resolved and its first IPv4 address bound (its first address if it has no
    IPv4 one). Raises ``OSError`` when binding fails.
    """
    if not host:
        if socket.has_ipv6:
            try:
                sock = _bind(socket.AF_INET6, ("::", port), dual_stack=True)
                dual = True
            except OSError as e:
                if e.errno not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL, errno.EPROTONOSUPPORT):
                    raise
                sock, dual = _bind(socket.AF_INET, ("0.0.0.0", port), False), False
        else:
            sock, dual = _bind(socket.AF_INET, ("0.0.0.0", port), False), False
        every = True
    else:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        # A name with several addresses (localhost: ::1 and 127.0.0.1): the
        # first IPv4 one, as pcp-forward on Twisted always bound; else the first.
        family, _, _, _, address = next((i for i in infos if i[0] == socket.AF_INET), infos[0])
        sock, dual, every = _bind(family, address, False), False, False
    try:
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return Listener(sock, every, dual, backlog, kernel_backlog_cap())


def accept_some(
    sock: socket.socket, limit: int
) -> Tuple[List[Tuple[socket.socket, Any]], Optional[OSError]]:
    """Accept up to *limit* waiting connections (non-blocking, TCP_NODELAY set).

    Returns the connections accepted and, when accept() failed for want of
    file descriptors or memory, that error (the caller stops accepting for a
    moment rather than spin on a socket that stays readable). Stops at the
    first ``EAGAIN``; skips connections aborted while queued.
    """
    accepted: List[Tuple[socket.socket, Any]] = []
    while len(accepted) < limit:
        try:
            conn, addr = sock.accept()
        except (BlockingIOError, InterruptedError):
            break
        except ConnectionAbortedError:
            continue
        except OSError as e:
            if e.errno in _OUT_OF_RESOURCES:
                return accepted, e
            if e.errno in (errno.EPROTO, errno.ECONNABORTED, errno.EPERM):
                continue
            raise
        conn.setblocking(False)
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        accepted.append((conn, addr))
    return accepted, None
