"""RingBuffer: a growable circular byte buffer (the compiled implementation).

The pure-Python twin in ``pcp._buffer_py`` has the same behaviour and raises
the same exceptions; ``pcp.RingBuffer`` is whichever of the two was selected.
"""

cimport cython
from cpython.buffer cimport (
    PyBUF_SIMPLE,
    PyBuffer_Release,
    PyObject_CheckBuffer,
    PyObject_GetBuffer,
)
from cpython.bytes cimport (
    PyBytes_AS_STRING,
    PyBytes_CheckExact,
    PyBytes_FromStringAndSize,
    PyBytes_GET_SIZE,
)
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.number cimport PyNumber_Index
from libc.string cimport memcpy

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX

cdef enum:
    _MIN_GROWTH = 64    # smallest block a growing ring allocates


cdef inline Py_ssize_t _index_arg(object n) except? -1:
    # Like io's read(n): anything with __index__, never a float.
    return PyNumber_Index(n)


@cython.final
cdef class RingBuffer:
    """A growable circular byte buffer.

    ``RingBuffer(capacity=4096)``: *capacity* is a starting hint in bytes.
    The ring grows geometrically when a write does not fit and, once it has
    been drained while little of it was used, shrinks back toward the hint.
    """

    def __cinit__(self, capacity=4096):
        cdef Py_ssize_t cap = _index_arg(capacity)
        if cap < 0:
            raise ValueError(f"capacity must be >= 0, got {cap}")
        # Allocated by the first write (as the twin does): a capacity hint
        # the machine cannot meet fails there, not here.
        self._buf = NULL
        self._cap = cap
        self._head = 0
        self._len = 0
        self._initial = cap
        self._peak = 0

    def __dealloc__(self):
        PyMem_Free(self._buf)
        self._buf = NULL

    def __reduce_ex__(self, protocol):
        raise TypeError(f"cannot copy or pickle {type(self).__name__!r} objects")

    cdef int _reserve(self, Py_ssize_t extra) except -1:
        """Make room for *extra* more bytes, unwrapping the data into a new block."""
        cdef Py_ssize_t needed, newcap
        cdef char *newbuf
        if self._buf is not NULL and extra <= self._cap - self._len:
            return 0
        if extra > PY_SSIZE_T_MAX - self._len:
            raise MemoryError(f"a ring of {self._len} + {extra} bytes overflows Py_ssize_t")
        needed = self._len + extra
        if self._buf is NULL and needed <= self._cap:
            self._buf = <char *>PyMem_Malloc(<size_t>self._cap)
            if self._buf is NULL:
                raise MemoryError(f"cannot allocate a {self._cap}-byte ring")
            return 0
        newcap = self._cap if self._cap >= _MIN_GROWTH else _MIN_GROWTH
        while newcap < needed:
            if newcap > PY_SSIZE_T_MAX // 2:
                newcap = needed
                break
            newcap *= 2
        if self._head == 0:
            # Not wrapped and nothing before the data: realloc may avoid a copy.
            newbuf = <char *>PyMem_Realloc(self._buf, <size_t>newcap)
            if newbuf is NULL:
                raise MemoryError(f"cannot grow a ring to {newcap} bytes")
        else:
            newbuf = <char *>PyMem_Malloc(<size_t>newcap)
            if newbuf is NULL:
                raise MemoryError(f"cannot grow a ring to {newcap} bytes")
            self._copy_out(newbuf, 0, self._len)
            PyMem_Free(self._buf)
            self._head = 0
        self._buf = newbuf
        self._cap = newcap
        return 0

    cdef int _append(self, const char *data, Py_ssize_t n) except -1:
        cdef Py_ssize_t tail, first
        if n <= 0:
            return 0
        if self._buf is NULL or n > self._cap - self._len:
            self._reserve(n)
        tail = self._head + self._len
        if tail >= self._cap:
            tail -= self._cap
        first = self._cap - tail
        if n <= first:
            memcpy(self._buf + tail, data, <size_t>n)
        else:
            memcpy(self._buf + tail, data, <size_t>first)
            memcpy(self._buf, data + first, <size_t>(n - first))
        self._len += n
        if self._len > self._peak:
            self._peak = self._len
        return 0

    cdef int _append_object(self, object data) except -1:
        cdef Py_buffer view
        if PyBytes_CheckExact(data):
            return self._append(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
        if not PyObject_CheckBuffer(data):
            raise TypeError(
                f"a bytes-like object is required, not {type(data).__name__!r}"
            )
        # PyBUF_SIMPLE refuses non-contiguous buffers with BufferError.
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            self._append(<const char *>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)
        return 0

    cdef void _copy_out(self, char *dest, Py_ssize_t start, Py_ssize_t n) noexcept:
        """Copy *n* bytes held, from *start* bytes past the front, to *dest*.

        The caller guarantees 0 <= start and start + n <= len; nothing is removed.
        """
        cdef Py_ssize_t pos = self._head + start
        cdef Py_ssize_t first
        if pos >= self._cap:
            pos -= self._cap
        first = self._cap - pos
        if n <= first:
            memcpy(dest, self._buf + pos, <size_t>n)
        else:
            memcpy(dest, self._buf + pos, <size_t>first)
            memcpy(dest + first, self._buf, <size_t>(n - first))

    cdef bytes _take(self, Py_ssize_t n, bint remove):
        cdef bytes out
        if n < 0 or n > self._len:
            n = self._len
        out = PyBytes_FromStringAndSize(NULL, n)
        if n:
            self._copy_out(PyBytes_AS_STRING(out), 0, n)
        if remove:
            self._consume(n)
        return out

    cdef void _consume(self, Py_ssize_t n) noexcept:
        """Drop the oldest *n* bytes (0 <= n <= len)."""
        if n == 0:
            return
        self._len -= n
        if self._len == 0:
            # An empty ring restarts at 0 so the next read is one memcpy.
            self._head = 0
            self._shrink_if_idle()
        else:
            self._head += n
            if self._head >= self._cap:
                self._head -= self._cap

    cdef void _shrink_if_idle(self) noexcept:
        # Called on an empty ring. Shrink only when the last fill used at most
        # a quarter of the ring, so a steady stream of bursts does not thrash.
        cdef Py_ssize_t target
        cdef char *newbuf
        if self._cap > self._initial and self._peak <= self._cap // 4:
            target = self._peak * 2
            if target < self._initial:
                target = self._initial
            if target == 0:
                PyMem_Free(self._buf)
                self._buf = NULL
                self._cap = 0
            else:
                newbuf = <char *>PyMem_Realloc(self._buf, <size_t>target)
                if newbuf is not NULL:  # failing to shrink is harmless
                    self._buf = newbuf
                    self._cap = target
        self._peak = 0

    # -- the Python API -------------------------------------------------------

    @cython.always_allow_keywords(False)
    def write(self, data):
        """Copy *data* (any C-contiguous bytes-like object) onto the end.

        Raises TypeError for objects without the buffer protocol (str, None,
        int, ...) and BufferError for non-contiguous buffers; the ring is
        unchanged after a refused write.
        """
        self._append_object(data)

    def read(self, n=-1):
        """Remove and return up to *n* bytes from the front (all when n < 0)."""
        return self._take(_index_arg(n), True)

    def peek(self, n=-1):
        """Return up to *n* bytes from the front without removing them (all when n < 0)."""
        return self._take(_index_arg(n), False)

    def advance(self, n):
        """Drop *n* bytes from the front; ValueError unless 0 <= n <= len(self)."""
        cdef Py_ssize_t k = _index_arg(n)
        if k < 0 or k > self._len:
            raise ValueError(f"cannot advance {k} bytes in a ring holding {self._len}")
        self._consume(k)

    def clear(self):
        """Drop everything held and give memory beyond the capacity hint back."""
        self._len = 0
        self._head = 0
        self._peak = 0
        self._shrink_if_idle()

    @property
    def capacity(self):
        """Bytes currently allocated (grows and shrinks; at least len(self))."""
        return self._cap

    def __len__(self):
        return self._len

    def __bool__(self):
        return self._len != 0

    def __repr__(self):
        return f"<pcp.RingBuffer len={self._len} capacity={self._cap}>"
