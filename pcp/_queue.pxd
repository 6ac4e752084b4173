from cpython.object cimport PyObject

cimport cython


@cython.final
cdef class ByteQueue:
    cdef readonly Py_ssize_t size     # bytes held
    cdef list _segs                   # sealed blocks and large bytes, oldest first
    cdef Py_ssize_t _head             # index of the oldest segment in _segs
    cdef Py_ssize_t _offset           # bytes of the oldest segment already consumed
    cdef PyObject *_block             # the open block (a bytes being filled), or NULL
    cdef Py_ssize_t _start            # consumed bytes of the open block (only when no segments)
    cdef Py_ssize_t _end              # bytes written to the open block

    cpdef Py_ssize_t measure(self, object data) except -1
    cpdef bytes as_bytes(self, object data)
    cpdef Py_ssize_t append(self, object data) except -1
    cdef int _append_small(self, const char *data, Py_ssize_t n) except -1
    cdef int _open(self, Py_ssize_t n) except -1
    cdef int _seal_into_segments(self) except -1
    cpdef bytes peek(self)
    cpdef int consume(self, Py_ssize_t n) except -1
    cpdef int reserve_front(self) except -1
    cpdef int push_front(self, bytes data, Py_ssize_t start) except -1
    cdef void _compact(self) noexcept
    cdef void _drop_block(self) noexcept
