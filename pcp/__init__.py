"""pcp: fast, correct producer/consumer buffering proxies.

The successor of ``twisted.protocols.pcp``: ``BasicProducerConsumerProxy`` and
``ProducerConsumerProxy`` with Twisted's names and behaviour, correct on bytes,
O(1) per write, with a Cython core and a pure-Python twin.

``pcp._select`` selects the implementation, in one place: the compiled
extension by default; the pure-Python twin when ``PCP_NO_EXTENSIONS`` is set
to a non-empty value, outside CPython, or when the extension is missing.
``EXTENSIONS`` says which was selected.
"""

from typing import TYPE_CHECKING

from pcp._errors import BufferFull
from pcp._proxy import BasicProducerConsumerProxy, ProducerConsumerProxy
from pcp._select import EXTENSIONS
from pcp._version import __version__ as __version__  # the one place it is written

if TYPE_CHECKING:
    from pcp._buffer import RingBuffer
else:
    from pcp._select import buffer as _buffer

    RingBuffer = _buffer.RingBuffer

__all__ = [
    "BasicProducerConsumerProxy",
    "BufferFull",
    "EXTENSIONS",
    "ProducerConsumerProxy",
    "RingBuffer",
]
