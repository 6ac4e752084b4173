import sys
from typing import SupportsIndex, final

if sys.version_info >= (3, 12):
    from collections.abc import Buffer
else:
    from typing_extensions import Buffer

@final
class RingBuffer:
    """A growable circular byte buffer.

    ``RingBuffer(capacity=4096)``: *capacity* is a starting hint in bytes.
    Not a base class: both implementations refuse to be subclassed.
    """

    # The compiled class takes its argument in __new__ (Cython's __cinit__).
    def __new__(cls, capacity: SupportsIndex = 4096) -> RingBuffer: ...
    def write(self, data: Buffer, /) -> None:
        """Copy *data* (any C-contiguous bytes-like object) onto the end."""
    def read(self, n: SupportsIndex = -1) -> bytes:
        """Remove and return up to *n* bytes from the front (all when *n* < 0)."""
    def peek(self, n: SupportsIndex = -1) -> bytes:
        """Return up to *n* bytes from the front without removing them."""
    def advance(self, n: SupportsIndex) -> None:
        """Drop *n* bytes from the front; ValueError unless 0 <= n <= len."""
    def clear(self) -> None:
        """Drop everything and give memory beyond the capacity hint back."""
    @property
    def capacity(self) -> int:
        """Bytes allocated."""
    def __len__(self) -> int: ...
    def __bool__(self) -> bool: ...
