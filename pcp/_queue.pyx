"""ByteQueue: the bytes a proxy holds for its consumer (the compiled implementation).

Small writes are copied into an open *block*: a bytes object with spare room,
grown in place. When everything held is that one block, ``peek`` seals it at
its final size and returns the block itself, so the consumer receives the
buffer's own storage: each small write is copied once on its way. Large exact
``bytes`` are immutable and are queued by reference. A peek of several
segments joins them into one new bytes object.

Every operation either completes or raises with the queue unchanged
(``MemoryError`` included). The twin ``pcp._queue_py`` behaves the same.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_CheckBuffer, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport PyObject
from cpython.ref cimport Py_XDECREF
from libc.string cimport memcpy, memmove

cdef extern from "_block.h":
    int pcp_block_resize(PyObject **pv, Py_ssize_t size) except -1
    void pcp_block_seal(PyObject **pv, Py_ssize_t used) noexcept

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX
    PyObject *PyBytes_FromStringAndSize_raw "PyBytes_FromStringAndSize"(const char *v, Py_ssize_t n)
    char *_block_data "PyBytes_AS_STRING"(PyObject *o)
    Py_ssize_t Py_SIZE(PyObject *o)

cdef enum:
    REF_MIN = 4096          # exact bytes at least this long are queued by reference
    BLOCK_MIN = 4096 - 33   # first capacity of a block (a 4 KiB allocation with the bytes header)
    BLOCK_KEEP = 65536      # an emptied block larger than this is given back


@cython.final
@cython.auto_pickle(False)
cdef class ByteQueue:
    """The bytes a proxy holds for its consumer, oldest first (internal)."""

    def __cinit__(self):
        self._segs = []

    def __dealloc__(self):
        Py_XDECREF(self._block)
        self._block = NULL

    def __reduce_ex__(self, protocol):
        raise TypeError(f"cannot copy or pickle {type(self).__name__!r} objects")

    def __len__(self):
        return self.size

    cpdef Py_ssize_t measure(self, object data) except -1:
        """The length of *data*: TypeError for non-buffers, BufferError for non-contiguous ones."""
        cdef Py_buffer view
        if PyBytes_CheckExact(data):
            return PyBytes_GET_SIZE(data)
        if not PyObject_CheckBuffer(data):
            raise TypeError(f"a bytes-like object is required, not {type(data).__name__!r}")
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        PyBuffer_Release(&view)
        return view.len

    cpdef bytes as_bytes(self, object data):
        """*data* as exact bytes (a copy unless it is bytes): TypeError or BufferError as measure."""
        cdef Py_buffer view
        if PyBytes_CheckExact(data):
            return <bytes>data
        if not PyObject_CheckBuffer(data):
            raise TypeError(f"a bytes-like object is required, not {type(data).__name__!r}")
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            return PyBytes_FromStringAndSize(<char *>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)

    cpdef Py_ssize_t append(self, object data) except -1:
        """Add *data* (any C-contiguous bytes-like object) at the end; return its length."""
        cdef Py_buffer view
        cdef Py_ssize_t n
        if PyBytes_CheckExact(data):
            n = PyBytes_GET_SIZE(data)
            if n < REF_MIN:
                self._append_small(PyBytes_AS_STRING(data), n)
                return n
            if self._block is not NULL and self._end > self._start:
                self._seal_into_segments()
            self._segs.append(data)
            self.size += n
            return n
        if not PyObject_CheckBuffer(data):
            raise TypeError(f"a bytes-like object is required, not {type(data).__name__!r}")
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            # Copied: later changes to a caller's bytearray change nothing here.
            self._append_small(<const char *>view.buf, view.len)
            return view.len
        finally:
            PyBuffer_Release(&view)

    cdef int _append_small(self, const char *data, Py_ssize_t n) except -1:
        if n == 0:
            return 0
        if self._block is NULL or n > Py_SIZE(self._block) - self._end:
            self._open(n)
        memcpy(_block_data(self._block) + self._end, data, <size_t>n)
        self._end += n
        self.size += n
        return 0

    cdef int _open(self, Py_ssize_t n) except -1:
        """Make room for *n* more bytes in the open block (grown, compacted or new)."""
        cdef Py_ssize_t held, cap
        if self._block is NULL:
            cap = BLOCK_MIN if n <= BLOCK_MIN else n
            self._block = PyBytes_FromStringAndSize_raw(NULL, cap)
            if self._block is NULL:
                return -1  # MemoryError is set
            self._start = self._end = 0
            return 0
        held = self._end - self._start
        cap = Py_SIZE(self._block)
        if n > PY_SSIZE_T_MAX - held:
            raise MemoryError(f"a block of {held} + {n} bytes overflows Py_ssize_t")
        if self._start and held + n <= cap // 2:
            # Mostly consumed: move the rest to the front instead of growing.
            memmove(_block_data(self._block), _block_data(self._block) + self._start, <size_t>held)
            self._start = 0
            self._end = held
            return 0
        while cap < self._end + n:
            cap = cap * 2 if cap <= PY_SSIZE_T_MAX // 2 else PY_SSIZE_T_MAX
        if cap - self._end < n:
            cap = self._end + n
        pcp_block_resize(&self._block, cap)
        return 0

    cdef int _seal_into_segments(self) except -1:
        """Move the open block's bytes into the segments (the block itself where it can)."""
        cdef object seg
        if self._start == 0:
            self._segs.append(None)  # the slot first: a failed append changes nothing
            pcp_block_seal(&self._block, self._end)
            self._segs[len(self._segs) - 1] = <object>self._block
            Py_XDECREF(self._block)
            self._block = NULL
        else:
            seg = PyBytes_FromStringAndSize(_block_data(self._block) + self._start, self._end - self._start)
            self._segs.append(seg)
            self._start = self._end = 0
        return 0

    cpdef bytes peek(self):
        """Everything held, oldest first, as one bytes object; nothing is removed.

        When everything is one block or one large bytes object, that object
        itself is returned (a block is sealed first); otherwise one copy.
        """
        cdef Py_ssize_t nsegs = len(self._segs) - self._head
        cdef Py_ssize_t pos, k, i
        cdef bytes out, seg
        cdef char *dest
        if self.size == 0:
            return b""
        if nsegs == 0 and self._start == 0:
            self._seal_into_segments()
            return <bytes>self._segs[self._head]
        if nsegs == 1 and (self._block is NULL or self._end == self._start):
            seg = <bytes>self._segs[self._head]
            if self._offset == 0:
                return seg
            return PyBytes_FromStringAndSize(PyBytes_AS_STRING(seg) + self._offset, self.size)
        out = PyBytes_FromStringAndSize(NULL, self.size)
        dest = PyBytes_AS_STRING(out)
        pos = 0
        k = self._offset
        for i in range(self._head, len(self._segs)):
            seg = <bytes>self._segs[i]
            memcpy(dest + pos, PyBytes_AS_STRING(seg) + k, <size_t>(PyBytes_GET_SIZE(seg) - k))
            pos += PyBytes_GET_SIZE(seg) - k
            k = 0
        if self._block is not NULL and self._end > self._start:
            memcpy(dest + pos, _block_data(self._block) + self._start, <size_t>(self._end - self._start))
            pos += self._end - self._start
        if pos != self.size:
            raise AssertionError(f"ByteQueue holds {pos} bytes, counted {self.size}")
        return out

    cpdef int consume(self, Py_ssize_t n) except -1:
        """Drop the oldest *n* bytes (0 <= n <= size)."""
        cdef Py_ssize_t avail
        if n < 0 or n > self.size:
            raise ValueError(f"cannot consume {n} bytes of {self.size}")
        self.size -= n
        while n:
            if self._head < len(self._segs):
                avail = PyBytes_GET_SIZE(self._segs[self._head]) - self._offset
                if n < avail:
                    self._offset += n
                    return 0
                n -= avail
                self._segs[self._head] = None
                self._head += 1
                self._offset = 0
            else:
                self._start += n
                n = 0
        if self._head >= 64 or self._head == len(self._segs):
            self._compact()
        if self._block is not NULL and self._start == self._end:
            if Py_SIZE(self._block) > BLOCK_KEEP:
                self._drop_block()
            else:
                self._start = self._end = 0
        return 0

    cdef void _compact(self) noexcept:
        # Drop the consumed slots (amortised O(1) per segment). Deleting
        # more than a few list items allocates: if that fails, they wait.
        cdef list rest
        if self._head == len(self._segs) or self._head * 2 >= len(self._segs):
            try:
                rest = self._segs[self._head:]
            except MemoryError:
                return
            self._segs = rest
            self._head = 0

    cpdef int reserve_front(self) except -1:
        """Make sure a later push_front cannot fail for want of memory."""
        if self._head == 0:
            self._segs.insert(0, None)
            self._head = 1
        return 0

    cpdef int push_front(self, bytes data, Py_ssize_t start) except -1:
        """Put data[start:] (by reference) before everything held.

        After reserve_front it cannot fail, unless the oldest segment was
        partly consumed (its rest is then copied), which the proxies never do.
        """
        cdef Py_ssize_t n
        if data is None:
            raise TypeError("push_front() argument 'data' must be bytes, not NoneType")
        if start < 0 or start > PyBytes_GET_SIZE(data):
            raise ValueError(f"start {start} is outside 0..{PyBytes_GET_SIZE(data)}")
        n = PyBytes_GET_SIZE(data) - start
        if n == 0:
            return 0
        if self._head == 0:
            self.reserve_front()
        if self._offset:
            # The oldest segment was partly consumed: keep only its rest.
            self._segs[self._head] = PyBytes_FromStringAndSize(
                PyBytes_AS_STRING(<bytes>self._segs[self._head]) + self._offset,
                PyBytes_GET_SIZE(self._segs[self._head]) - self._offset)
            self._offset = 0
        self._head -= 1
        self._segs[self._head] = data
        self._offset = start
        self.size += n
        return 0

    cdef void _drop_block(self) noexcept:
        Py_XDECREF(self._block)
        self._block = NULL
        self._start = self._end = 0
