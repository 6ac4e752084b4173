"""ProxyCore: the per-byte path of pcp's proxies (the compiled implementation).

``write``, buffering, the watermark checks and the flush loop live here; the
registration rules and the pause/resume/stop/finish state machine live in the
readable Python layer, ``pcp._proxy``, which subclasses this class. The
pure-Python twin in ``pcp._core_py`` has the same behaviour.

Small writes are copied into a RingBuffer. Large exact ``bytes`` are immutable,
so they are queued by reference instead: a flush then copies them once (as
``b"".join`` would), or not at all when one chunk is all there is to send.
Each queued chunk remembers how many ring bytes had been written before it,
which is how order is kept between the two stores.
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
from cpython.number cimport PyNumber_Index
from cpython.object cimport PyObject
from libc.string cimport memcpy

from pcp._buffer cimport RingBuffer

from pcp._errors import BufferFull

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX
    int _generic_setattr "PyObject_GenericSetAttr"(object o, object name, PyObject *value) except -1
    int PyObject_GenericSetDict(object o, object value, void *context) except -1

cdef enum:
    # Exact bytes at least this long are queued by reference, not copied.
    _REF_MIN = 4096


@cython.final
@cython.no_gc
cdef class _Chunk:
    """A queued large bytes object and the ring mark (bytes written to the ring before it)."""
    cdef bytes data
    cdef Py_ssize_t mark


cdef bytes _to_bytes(object data):
    """Return *data* as exact bytes, or raise TypeError/BufferError."""
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


# Attributes the protocol layer relies on always being there, with their defaults.
_PROTOCOL_FIELDS = {"consumer": None, "producer": None, "producerIsStreaming": None,
                    "iAmStreaming": True, "stopped": False}


cdef Py_ssize_t _mark_arg(object value, str name) except -1:
    cdef Py_ssize_t n = PyNumber_Index(value)
    if n < 0:
        raise ValueError(f"{name} must be >= 0, got {n}")
    return n


cdef class ProxyCore:
    """Buffer, write path, flush loop and watermarks of a producer/consumer proxy.

    Not used directly: ``pcp.BasicProducerConsumerProxy`` and
    ``pcp.ProducerConsumerProxy`` add the producer/consumer protocol on top.

    Read-only counters: ``bufferedBytes`` (accepted, not yet taken by the
    consumer), ``peakBufferedBytes``, ``producerPauses`` (times the producer
    was paused at the high-water mark), ``bytesReceived`` (accepted from the
    producer), ``bytesSent`` (taken by the consumer), ``bytesDiscarded``
    (written after stopProducing, reaching nobody).
    """

    # consumer, producer, producerIsStreaming, iAmStreaming and stopped are
    # read by the protocol layer on every pull, so they are plain instance
    # attributes, which CPython caches (reads through a getset descriptor
    # never are). __setattr__ keeps these C copies, the ones the core reads,
    # in step with them.
    cdef object _consumer
    cdef object _consumerWrite     # consumer.write, bound when the consumer is set
    cdef object _producer
    cdef object _producerIsStreaming
    cdef bint _iAmStreaming
    cdef bint _stopped
    cdef public bint paused
    cdef public bint outstandingPull
    cdef public bint producerPaused
    cdef public bint unregistered
    # A subclass's _writeSomeData (the plain function, called with self), set
    # by the protocol layer; None when not overridden.
    cdef public object _writeHook

    cdef readonly Py_ssize_t bufferedBytes
    cdef readonly Py_ssize_t peakBufferedBytes
    cdef readonly Py_ssize_t producerPauses
    cdef readonly unsigned long long bytesReceived
    cdef readonly unsigned long long bytesSent
    cdef readonly unsigned long long bytesDiscarded

    cdef RingBuffer _ring
    cdef Py_ssize_t _ringIn        # bytes ever written to the ring
    cdef Py_ssize_t _ringOut       # bytes ever consumed from the ring
    cdef list _refs                # _Chunk queue; the oldest is at _refHead
    cdef Py_ssize_t _refHead
    cdef Py_ssize_t _nrefs
    cdef Py_ssize_t _refOffset     # bytes of the oldest ref already sent
    cdef Py_ssize_t _high
    cdef Py_ssize_t _low           # -1: bufferSize // 4
    cdef Py_ssize_t _max           # -1: no hard cap
    cdef bint _sending             # a consumer write is in progress

    def __cinit__(self, *args, **kwargs):
        if type(self) is ProxyCore:
            raise TypeError("ProxyCore is a base class: use pcp.BasicProducerConsumerProxy "
                            "or pcp.ProducerConsumerProxy")
        self._iAmStreaming = True
        # A dict of our own: the one CPython would create for an instance
        # of a subclass of a C type shares its keys with the class, and
        # reads from it are then never cached (seen on 3.11 and 3.13, not 3.12;
        # tests/test_attribute_cache.py).
        PyObject_GenericSetDict(self, dict(_PROTOCOL_FIELDS), NULL)
        self._ring = RingBuffer()
        self._refs = []
        self._high = PY_SSIZE_T_MAX
        self._low = -1
        self._max = -1

    def __setattr__(self, name, value):
        # The consumer's write is looked up when the consumer is set (that
        # saves a lookup per write): assign the consumer again after
        # replacing its write method.
        if name == "consumer":
            self._consumerWrite = getattr(value, "write", None) if value is not None else None
            self._consumer = value
        elif name == "producer":
            self._producer = value
        elif name == "producerIsStreaming":
            self._producerIsStreaming = value
        elif name == "iAmStreaming":
            self._iAmStreaming = value
            value = self._iAmStreaming
        elif name == "stopped":
            self._stopped = value
            value = self._stopped
        _generic_setattr(self, name, <PyObject *>value)

    def __delattr__(self, name):
        if name in _PROTOCOL_FIELDS:
            raise AttributeError(f"cannot delete attribute {name!r}")
        _generic_setattr(self, name, NULL)

    # -- the marks ------------------------------------------------------------

    @property
    def bufferSize(self):
        """High-water mark: a streaming producer is paused once this many bytes are buffered."""
        return self._high

    @bufferSize.setter
    def bufferSize(self, value):
        cdef Py_ssize_t n = _mark_arg(value, "bufferSize")
        if self._low > n:
            raise ValueError(f"bufferSize {n} is below lowWater {self._low}")
        if self._max >= 0 and n > self._max:
            raise ValueError(f"bufferSize {n} is above maxBufferSize {self._max}")
        self._high = n
        self._check_marks()

    @property
    def lowWater(self):
        """Low-water mark: a producer paused at bufferSize resumes once the buffer falls to this.

        Defaults to bufferSize // 4 (following bufferSize); set None to restore that.
        """
        return self._low if self._low >= 0 else self._high // 4

    @lowWater.setter
    def lowWater(self, value):
        cdef Py_ssize_t n
        if value is None:
            self._low = -1
        else:
            n = _mark_arg(value, "lowWater")
            if n > self._high:
                raise ValueError(f"lowWater {n} is above bufferSize {self._high}")
            self._low = n
        self._check_marks()

    @property
    def maxBufferSize(self):
        """Hard cap on buffered bytes, or None (the default) for no cap.

        A write that would take the buffer past it raises pcp.BufferFull and
        buffers nothing of that write.
        """
        return self._max if self._max >= 0 else None

    @maxBufferSize.setter
    def maxBufferSize(self, value):
        cdef Py_ssize_t n
        if value is None:
            self._max = -1
            return
        n = _mark_arg(value, "maxBufferSize")
        if n < self._high and self._high != PY_SSIZE_T_MAX:
            raise ValueError(f"maxBufferSize {n} is below bufferSize {self._high}")
        self._max = n

    # -- watermarks -------------------------------------------------------------

    @cython.final
    cdef int _check_high(self) except -1:
        if (self.bufferedBytes >= self._high and self.bufferedBytes and not self.producerPaused
                and self._producer is not None and self._producerIsStreaming):
            self.producerPaused = True
            self.producerPauses += 1
            self._producer.pauseProducing()
        return 0

    @cython.final
    cdef bint _check_low(self) except -1:
        cdef Py_ssize_t low = self._low if self._low >= 0 else self._high // 4
        if self.producerPaused and self.bufferedBytes <= low:
            self.producerPaused = False
            if self._producer is not None:
                self._producer.resumeProducing()
                return True
        return False

    @cython.final
    cdef int _check_marks(self) except -1:
        self._check_high()
        self._check_low()
        return 0

    def _checkWatermarks(self):
        """Pause the producer if at the high mark, resume it if paused and at the low mark."""
        self._check_marks()

    def _resumeUpstreamIfDrained(self):
        """Resume a producer paused at the high mark once at or below the low mark.

        Returns True when it called the producer's resumeProducing.
        """
        return self._check_low()

    # -- the buffer -------------------------------------------------------------

    @cython.final
    cdef int _check_cap(self, Py_ssize_t n) except -1:
        if self._max >= 0 and n and n > self._max - self.bufferedBytes:
            raise BufferFull(
                f"writing {n} bytes to a buffer holding {self.bufferedBytes} "
                f"would exceed maxBufferSize {self._max}"
            )
        return 0

    @cython.final
    cdef int _append_bytes(self, bytes data) except -1:
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cdef _Chunk chunk
        if n >= _REF_MIN:
            chunk = _Chunk.__new__(_Chunk)
            chunk.data = data
            chunk.mark = self._ringIn
            self._refs.append(chunk)
            self._nrefs += 1
        else:
            self._ring._append(PyBytes_AS_STRING(data), n)
            self._ringIn += n
        self._added(n)
        return 0

    @cython.final
    cdef inline void _added(self, Py_ssize_t n) noexcept:
        self.bufferedBytes += n
        if self.bufferedBytes > self.peakBufferedBytes:
            self.peakBufferedBytes = self.bufferedBytes

    @cython.final
    cdef int _buffer(self, object data) except -1:
        """Type-check, cap-check and append *data*; nothing is appended on error."""
        cdef Py_buffer view
        if PyBytes_CheckExact(data):
            self._check_cap(PyBytes_GET_SIZE(data))
            self._append_bytes(<bytes>data)
            self.bytesReceived += PyBytes_GET_SIZE(data)
            return 0
        if not PyObject_CheckBuffer(data):
            raise TypeError(f"a bytes-like object is required, not {type(data).__name__!r}")
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            self._check_cap(view.len)
            # Copied, so later changes to a caller's bytearray change nothing here.
            self._ring._append(<const char *>view.buf, view.len)
            self._ringIn += view.len
            self._added(view.len)
            self.bytesReceived += view.len
        finally:
            PyBuffer_Release(&view)
        return 0

    @cython.final
    cdef inline _Chunk _ref(self, Py_ssize_t i):
        return <_Chunk>self._refs[self._refHead + i]

    @cython.final
    cdef bytes _peek_all(self):
        """Everything buffered, oldest first, as one bytes object (not removed)."""
        cdef bytes out
        cdef _Chunk chunk
        cdef char *dest
        cdef Py_ssize_t pos, ring_pos, i, k
        if self._nrefs == 0:
            return self._ring._take(-1, False)
        if self._nrefs == 1 and self._ringIn == self._ringOut:
            chunk = self._ref(0)
            if self._refOffset == 0:
                return chunk.data
            return PyBytes_FromStringAndSize(
                PyBytes_AS_STRING(chunk.data) + self._refOffset, self.bufferedBytes)
        out = PyBytes_FromStringAndSize(NULL, self.bufferedBytes)
        dest = PyBytes_AS_STRING(out)
        pos = 0
        ring_pos = self._ringOut
        k = self._refOffset
        for i in range(self._nrefs):
            chunk = self._ref(i)
            if chunk.mark > ring_pos:
                self._ring._copy_out(dest + pos, ring_pos - self._ringOut, chunk.mark - ring_pos)
                pos += chunk.mark - ring_pos
                ring_pos = chunk.mark
            memcpy(dest + pos, PyBytes_AS_STRING(chunk.data) + k,
                   <size_t>(PyBytes_GET_SIZE(chunk.data) - k))
            pos += PyBytes_GET_SIZE(chunk.data) - k
            k = 0
        if self._ringIn > ring_pos:
            self._ring._copy_out(dest + pos, ring_pos - self._ringOut, self._ringIn - ring_pos)
            pos += self._ringIn - ring_pos
        assert pos == self.bufferedBytes
        return out

    @cython.final
    cdef void _consume(self, Py_ssize_t n) noexcept:
        """Drop the oldest *n* bytes (0 <= n <= bufferedBytes)."""
        cdef Py_ssize_t before, k, avail
        cdef _Chunk chunk
        if n == self.bufferedBytes:
            self._clear()
            return
        self.bufferedBytes -= n
        while n > 0:
            if self._nrefs == 0:
                # Only ring bytes are left.
                self._ring._consume(n)
                self._ringOut += n
                return
            chunk = self._ref(0)
            before = chunk.mark - self._ringOut
            if before > 0:
                k = n if n < before else before
                self._ring._consume(k)
                self._ringOut += k
                n -= k
                continue
            avail = PyBytes_GET_SIZE(chunk.data) - self._refOffset
            if n >= avail:
                self._pop_ref()
                n -= avail
            else:
                self._refOffset += n
                n = 0

    @cython.final
    cdef void _pop_ref(self) noexcept:
        self._refs[self._refHead] = None
        self._refHead += 1
        self._nrefs -= 1
        self._refOffset = 0
        if self._nrefs == 0:
            del self._refs[:]
            self._refHead = 0
        elif self._refHead >= 64 and self._refHead * 2 >= len(self._refs):
            # Drop the popped slots now and then: amortised O(1) per pop.
            del self._refs[:self._refHead]
            self._refHead = 0

    @cython.final
    cdef void _clear(self) noexcept:
        self._ring._consume(self._ringIn - self._ringOut)
        self._ringIn = self._ringOut = 0
        if self._nrefs:
            del self._refs[:]
        self._refHead = 0
        self._nrefs = 0
        self._refOffset = 0
        self.bufferedBytes = 0

    @cython.final
    cdef int _prepend_rest(self, bytes data, Py_ssize_t sent) except -1:
        """Buffer data[sent:] ahead of anything written meanwhile."""
        cdef bytes later = self._peek_all() if self.bufferedBytes else None
        self._clear()
        self._append_bytes(data[sent:] if sent else data)
        if later is not None:
            self._append_bytes(later)
        return 0

    # -- sending ------------------------------------------------------------------

    @cython.final
    cdef Py_ssize_t _send(self, bytes data) except -1:
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cdef Py_ssize_t sent
        if self._writeHook is None:
            if self._consumerWrite is None:
                raise AttributeError(f"consumer {self._consumer!r} has no write method")
            self._consumerWrite(data)
            return n
        result = self._writeHook(self, data)
        try:
            sent = PyNumber_Index(result)
        except TypeError:
            raise TypeError(
                f"_writeSomeData must return an int, not {type(result).__name__!r}"
            ) from None
        if sent < 0 or sent > n:
            raise ValueError(f"_writeSomeData returned {sent} for {n} bytes")
        return sent

    @cython.final
    cdef inline bint _wants_data(self) noexcept:
        return (not self.paused and not self._sending and self._consumer is not None
                and (self._iAmStreaming or self.outstandingPull))

    @cython.final
    cdef Py_ssize_t _drain(self) except -1:
        """Send what is buffered while the consumer takes it; return bytes sent."""
        cdef Py_ssize_t total = 0
        cdef Py_ssize_t sent
        cdef bytes data
        if self._sending:
            # A consumer calling back in: the outer loop goes on after it returns.
            return 0
        while (self.bufferedBytes and not self.paused and not self._stopped
               and self._consumer is not None and (self._iAmStreaming or total == 0)):
            data = self._peek_all()
            self._sending = True
            try:
                sent = self._send(data)
            finally:
                self._sending = False
            self._consume(sent)
            self.bytesSent += sent
            total += sent
            if sent < PyBytes_GET_SIZE(data):
                break
        return total

    def _flush(self):
        """Send what is buffered (one write per pass); return the bytes sent."""
        return self._drain()

    @cython.always_allow_keywords(False)
    def _resumeFlush(self):
        """Clear paused and send what is buffered; return True when nothing is left buffered.

        A pull proxy's pull is answered only if something went out:
        outstandingPull becomes whether nothing did. One call, because the
        protocol layer's resumeProducing runs once per pull.
        """
        cdef Py_ssize_t sent
        self.paused = False
        sent = self._drain()
        if not self._iAmStreaming:
            self.outstandingPull = sent == 0
        return self.bufferedBytes == 0

    @cython.always_allow_keywords(False)
    def write(self, data):
        """Accept *data* (any C-contiguous bytes-like object) from the producer.

        Passed straight to the consumer when nothing is buffered and the
        consumer wants data; buffered (copied, or referenced if immutable)
        otherwise. Non-buffers raise TypeError and nothing is lost.
        """
        cdef bytes payload
        cdef Py_ssize_t n, sent
        if self._stopped:
            payload = _to_bytes(data)
            self.bytesDiscarded += PyBytes_GET_SIZE(payload)
            return
        if self.bufferedBytes and self._wants_data():
            # Leftovers of a partial write or a failed flush go first. If the
            # consumer raises here, nothing of this write has been accepted.
            if self._drain() and not self._iAmStreaming:
                self.outstandingPull = False
        if (self.paused or self.bufferedBytes or self._sending or self._consumer is None
                or (not self._iAmStreaming and not self.outstandingPull)):
            self._buffer(data)
            self._check_marks()
            return
        payload = _to_bytes(data)
        n = PyBytes_GET_SIZE(payload)
        if n == 0:
            return
        self._check_cap(n)
        self._sending = True
        try:
            sent = self._send(payload)
        finally:
            self._sending = False
        self.outstandingPull = False
        self.bytesReceived += n
        self.bytesSent += sent
        if sent < n:
            self._prepend_rest(payload, sent)
        if self.bufferedBytes:
            # The rest of a partial write, or writes made while it was sent.
            self._check_high()
            if self._wants_data():
                self._drain()
        self._check_low()
