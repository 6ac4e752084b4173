"""RingBuffer: the pure-Python twin of ``pcp._buffer``.

Same behaviour, messages and exception types as the compiled ring; used when
``PCP_NO_EXTENSIONS`` is set, outside CPython, or when the extension is missing.
A ``bytearray`` with a read offset stands in for the circular C block.
"""

from __future__ import annotations

import sys
from operator import index
from typing import TYPE_CHECKING, NoReturn, SupportsIndex, final

if TYPE_CHECKING:  # typing only: the twin needs nothing beyond the standard library
    from typing_extensions import Buffer

__all__ = ["RingBuffer"]

_MIN_GROWTH = 64


def _index(n: object) -> int:
    # As the compiled ring converts to Py_ssize_t.
    k = index(n)  # type: ignore[arg-type]
    if not -sys.maxsize - 1 <= k <= sys.maxsize:
        raise OverflowError("Python int too large to convert to C ssize_t")
    return k


def to_bytes(data: object) -> bytes:
    """Return *data* as exact bytes: TypeError for non-buffers, BufferError for non-contiguous ones.

    The twins' one place for the checks the extensions make with PyBUF_SIMPLE.
    """
    if type(data) is bytes:
        return data
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"a bytes-like object is required, not {type(data).__name__!r}"
        ) from None
    with view:
        if not view.c_contiguous:
            raise BufferError("memoryview: underlying buffer is not C-contiguous")
        return view.tobytes()


@final
class RingBuffer:
    """A growable circular byte buffer.

    ``RingBuffer(capacity=4096)``: *capacity* is a starting hint in bytes.
    The ring grows geometrically when a write does not fit and, once it has
    been drained while little of it was used, shrinks back toward the hint.
    """

    __slots__ = ("_data", "_head", "_cap", "_initial", "_peak")

    def __init_subclass__(cls, **kwargs: object) -> None:
        # As the compiled RingBuffer (a final extension type): not a base class.
        raise TypeError(f"type '{__name__}.RingBuffer' is not an acceptable base type")

    def __init__(self, capacity: SupportsIndex = 4096) -> None:
        cap = _index(capacity)
        if cap < 0:
            raise ValueError(f"capacity must be >= 0, got {cap}")
        self._data = bytearray()
        self._head = 0
        self._cap = cap
        self._initial = cap
        self._peak = 0

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        raise TypeError(f"cannot copy or pickle {type(self).__name__!r} objects")

    def _append(self, data: object) -> None:
        payload = to_bytes(data)
        self._grow_for(len(payload))
        self._data += payload
        held = len(self)
        if held > self._peak:
            self._peak = held

    def _grow_for(self, extra: int) -> None:
        needed = len(self) + extra
        if needed <= self._cap:
            return
        cap = max(self._cap, _MIN_GROWTH)
        while cap < needed:
            cap *= 2
        self._cap = cap

    def _consume(self, n: int) -> None:
        self._head += n
        if self._head == len(self._data):
            self._data = bytearray()
            self._head = 0
            self._shrink_if_idle()
        elif self._head > 65536 and self._head * 2 > len(self._data):
            # Compact now and then so the bytearray does not keep dead bytes.
            del self._data[: self._head]
            self._head = 0

    def _shrink_if_idle(self) -> None:
        if self._cap > self._initial and self._peak <= self._cap // 4:
            self._cap = max(self._peak * 2, self._initial)
        self._peak = 0

    def _take(self, n: int, remove: bool) -> bytes:
        held = len(self)
        if n < 0 or n > held:
            n = held
        # Views released on every path: a failed copy must not leave the
        # bytearray exported (it could then never be resized or freed).
        with memoryview(self._data) as view, view[self._head : self._head + n] as part:
            out = part.tobytes()
        if remove and n:
            self._consume(n)
        return out

    def write(self, data: Buffer, /) -> None:
        """Copy *data* (any C-contiguous bytes-like object) onto the end.

        Raises TypeError for objects without the buffer protocol (str, None,
        int, ...) and BufferError for non-contiguous buffers; the ring is
        unchanged after a refused write.
        """
        self._append(data)

    def read(self, n: SupportsIndex = -1) -> bytes:
        """Remove and return up to *n* bytes from the front (all when n < 0)."""
        return self._take(_index(n), True)

    def peek(self, n: SupportsIndex = -1) -> bytes:
        """Return up to *n* bytes from the front without removing them (all when n < 0)."""
        return self._take(_index(n), False)

    def advance(self, n: SupportsIndex) -> None:
        """Drop *n* bytes from the front; ValueError unless 0 <= n <= len(self)."""
        k = _index(n)
        held = len(self)
        if k < 0 or k > held:
            raise ValueError(f"cannot advance {k} bytes in a ring holding {held}")
        if k:
            self._consume(k)

    def clear(self) -> None:
        """Drop everything held and give memory beyond the capacity hint back."""
        self._data = bytearray()
        self._head = 0
        self._peak = 0
        self._shrink_if_idle()

    @property
    def capacity(self) -> int:
        """Bytes currently allocated (grows and shrinks; at least len(self))."""
        return self._cap

    def __len__(self) -> int:
        return len(self._data) - self._head

    def __bool__(self) -> bool:
        return len(self._data) != self._head

    def __repr__(self) -> str:
        return f"<pcp.RingBuffer len={len(self)} capacity={self._cap}>"
