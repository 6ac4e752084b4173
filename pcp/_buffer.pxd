cimport cython


@cython.final
cdef class RingBuffer:
    cdef:
        char *_buf
        Py_ssize_t _cap       # bytes allocated at _buf
        Py_ssize_t _head      # index of the oldest byte held
        Py_ssize_t _len       # bytes held
        Py_ssize_t _initial   # the capacity hint: what a drained ring shrinks to
        Py_ssize_t _peak      # most bytes held since the ring was last drained

    cdef int _reserve(self, Py_ssize_t extra) except -1
    cdef int _append(self, const char *data, Py_ssize_t n) except -1
    cdef int _append_object(self, object data) except -1
    cdef void _copy_out(self, char *dest, Py_ssize_t start, Py_ssize_t n) noexcept
    cdef bytes _take(self, Py_ssize_t n, bint remove)
    cdef void _consume(self, Py_ssize_t n) noexcept
    cdef void _shrink_if_idle(self) noexcept
