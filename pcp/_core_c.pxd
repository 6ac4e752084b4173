# Types for pcp/_core.py when it is compiled as pcp._core_c (Cython's
# pure-Python mode): the same source, C fields and direct calls.
cimport cython

from pcp._queue cimport ByteQueue

cdef Py_ssize_t _NO_MARK

cdef ByteQueue _new_queue()
cdef Py_ssize_t _mark(object value, str name) except -1
@cython.locals(sent=Py_ssize_t)
cdef Py_ssize_t _checkSent(object result, Py_ssize_t n) except -1


cdef class BasicCore:
    cdef object _consumer
    cdef object _consumerWrite
    cdef object _producer
    cdef object _producerIsStreaming
    cdef bint _iAmStreaming
    cdef bint _paused
    cdef bint _stopped
    cdef bint _outstandingPull
    cdef bint _producerPaused
    cdef bint _unregistered
    cdef Py_ssize_t _high
    cdef Py_ssize_t _low
    cdef Py_ssize_t _max
    cdef Py_ssize_t _peak
    cdef Py_ssize_t _pauses
    cdef unsigned long long _sent
    cdef unsigned long long _discarded
    cdef ByteQueue _queue
    cdef bint _sending
    cdef bint _pulling
    cdef bint _unregisterPending
    cdef bint _finishPending
    cdef object _writeHook
    cdef dict __dict__
    cdef object __weakref__

    cpdef bint _wantsData(self) except -1
    cpdef _pull(self)
    cpdef _tellConsumerIfDrained(self)
    @cython.final
    cdef void _checkHigh(self) except *
    @cython.final
    cdef bint _checkLow(self) except -1
    @cython.final
    cdef void _checkMarks(self) except *
    @cython.final
    cdef inline bint _wantsWrites(self) noexcept
    @cython.final
    cdef void _buffer(self, object data) except *
    @cython.final
    cdef void _checkCap(self, Py_ssize_t n) except *
    @cython.final
    @cython.locals(payload=bytes, n=Py_ssize_t, sent=Py_ssize_t)
    cdef inline void _passThrough(self, object data) except *
    @cython.final
    cdef inline Py_ssize_t _send(self, bytes data) except -1
    @cython.final
    @cython.locals(total=Py_ssize_t, sent=Py_ssize_t, data=bytes)
    cdef Py_ssize_t _drain(self) except -1


cdef class BufferedCore(BasicCore):
    pass
