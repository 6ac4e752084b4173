"""pcp: fast, correct producer/consumer buffering proxies.

The successor of ``twisted.protocols.pcp``: ``BasicProducerConsumerProxy`` and
``ProducerConsumerProxy`` with Twisted's names and behaviour, correct on bytes,
O(1) per write, with a Cython core and a pure-Python twin.

This module selects the implementation, in one place: the compiled
extensions by default; the pure-Python twins when ``PCP_NO_EXTENSIONS`` is set
to a non-empty value, outside CPython, or when the extensions are missing.
``EXTENSIONS`` says which was selected.
"""

import os
import sys

from pcp._errors import BufferFull
from pcp._proxy import proxy_classes

__all__ = [
    "BasicProducerConsumerProxy",
    "BufferFull",
    "EXTENSIONS",
    "ProducerConsumerProxy",
    "ProxyCore",
    "RingBuffer",
]
from pcp._version import __version__ as __version__  # the one place it is written

EXTENSIONS = False
if not os.environ.get("PCP_NO_EXTENSIONS") and sys.implementation.name == "cpython":
    try:
        from pcp._buffer import RingBuffer
        from pcp._core import ProxyCore

        EXTENSIONS = True
    except ImportError as exc:
        from pcp._fallback import warn_twin_selected

        warn_twin_selected(exc)  # says once why the slower twin was selected
if not EXTENSIONS:
    from pcp._buffer_py import RingBuffer  # type: ignore[assignment]
    from pcp._core_py import ProxyCore  # type: ignore[assignment]

BasicProducerConsumerProxy, ProducerConsumerProxy = proxy_classes(ProxyCore)
