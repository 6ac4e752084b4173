"""ByteQueue: the pure-Python twin of ``pcp._queue``.

The same operations, results and exceptions; the storage is a deque of
bytes objects (exact ``bytes`` kept by reference, other buffers copied into
new bytes) with the offset already consumed from the oldest one. A peek of
several of them joins them: one copy.
"""

from __future__ import annotations

from collections import deque
from typing import Deque, NoReturn, SupportsIndex

from pcp._buffer_py import to_bytes

__all__ = ["ByteQueue"]


class ByteQueue:
    """The bytes a proxy holds for its consumer, oldest first (internal)."""

    __slots__ = ("size", "_chunks", "_offset")

    def __init__(self) -> None:
        self.size = 0
        self._chunks: Deque[bytes] = deque()
        self._offset = 0

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        raise TypeError(f"cannot copy or pickle {type(self).__name__!r} objects")

    def __len__(self) -> int:
        return self.size

    def measure(self, data: object) -> int:
        """The length of *data*: TypeError for non-buffers, BufferError for non-contiguous ones."""
        return len(data) if type(data) is bytes else len(to_bytes(data))

    def as_bytes(self, data: object) -> bytes:
        """*data* as exact bytes (a copy unless it is bytes): TypeError or BufferError as measure."""
        return data if type(data) is bytes else to_bytes(data)

    def append(self, data: object) -> int:
        """Add *data* (any C-contiguous bytes-like object) at the end; return its length."""
        payload = data if type(data) is bytes else to_bytes(data)
        n = len(payload)
        if n:
            self._chunks.append(payload)
            self.size += n
        return n

    def peek(self) -> bytes:
        """Everything held, oldest first, as one bytes object; nothing is removed.

        Several chunks are joined once and kept joined, so a peek that is
        not consumed (a consumer that raised) costs no second join.
        """
        chunks = self._chunks
        if len(chunks) == 1 and not self._offset:
            return chunks[0]
        if not chunks:
            return b""
        if self._offset:
            with memoryview(chunks[0]) as first, first[self._offset :] as rest:
                joined = b"".join([rest, *list(chunks)[1:]])
        else:
            joined = b"".join(chunks)
        self._chunks = deque([joined])
        self._offset = 0
        return joined

    def consume(self, n: int) -> None:
        """Drop the oldest *n* bytes (0 <= n <= size)."""
        if n < 0 or n > self.size:
            raise ValueError(f"cannot consume {n} bytes of {self.size}")
        self.size -= n
        n += self._offset
        chunks = self._chunks
        while chunks and n >= len(chunks[0]):
            n -= len(chunks.popleft())
        self._offset = n

    def reserve_front(self) -> None:
        """Make sure a later push_front cannot fail for want of memory (nothing to do here)."""

    def push_front(self, data: bytes, start: int) -> None:
        """Put data[start:] (by reference) before everything held."""
        if type(data) is not bytes:
            raise TypeError(f"push_front() argument 'data' must be bytes, not {type(data).__name__}")
        if start < 0 or start > len(data):
            raise ValueError(f"start {start} is outside 0..{len(data)}")
        n = len(data) - start
        if n == 0:
            return
        if self._offset:
            self._chunks[0] = self._chunks[0][self._offset :]
        self._chunks.appendleft(data)
        self._offset = start
        self.size += n
