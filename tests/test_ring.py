"""RingBuffer: the documented behaviour, run on the compiled ring and its twin."""

import array
import mmap

import pytest


def _filled(impl, data, capacity=4096):
    ring = impl.RingBuffer(capacity)
    ring.write(data)
    return ring


def _assert_holds(ring, expected):
    """The ring holds exactly *expected*, as seen by peek, len, bool and capacity."""
    assert ring.peek() == expected
    assert len(ring) == len(expected)
    assert bool(ring) is bool(expected)
    assert ring.capacity >= len(expected)


# -- basics -------------------------------------------------------------------


def test_new_ring_is_empty(impl):
    ring = impl.RingBuffer()
    assert len(ring) == 0
    assert not ring
    assert ring.capacity == 4096
    assert ring.read() == b""
    assert ring.peek() == b""


def test_capacity_hint_is_the_starting_capacity(impl):
    assert impl.RingBuffer(100).capacity == 100
    assert impl.RingBuffer(capacity=7).capacity == 7
    assert impl.RingBuffer(0).capacity == 0


def test_write_then_read_all(impl):
    ring = impl.RingBuffer()
    ring.write(b"hello ")
    ring.write(b"world")
    assert len(ring) == 11
    assert ring
    assert ring.read() == b"hello world"
    assert len(ring) == 0
    assert not ring


def test_read_n_removes_from_the_front(impl):
    ring = _filled(impl, b"abcdef")
    assert ring.read(2) == b"ab"
    assert ring.read(3) == b"cde"
    _assert_holds(ring, b"f")


def test_peek_does_not_remove(impl):
    ring = _filled(impl, b"abcdef")
    assert ring.peek(3) == b"abc"
    assert ring.peek() == b"abcdef"
    assert len(ring) == 6
    assert ring.read(1) == b"a"
    assert ring.peek(2) == b"bc"


def test_read_and_peek_return_bytes(impl):
    ring = _filled(impl, bytearray(b"xyz"))
    assert type(ring.peek()) is bytes
    assert type(ring.read(1)) is bytes
    assert type(ring.read()) is bytes
    assert type(ring.read()) is bytes


def test_advance_drops_from_the_front(impl):
    ring = _filled(impl, b"abcdef")
    assert ring.advance(2) is None
    _assert_holds(ring, b"cdef")
    ring.advance(0)
    _assert_holds(ring, b"cdef")
    ring.advance(4)
    _assert_holds(ring, b"")


def test_clear_drops_everything(impl):
    ring = _filled(impl, b"abcdef")
    ring.clear()
    _assert_holds(ring, b"")
    ring.write(b"again")
    _assert_holds(ring, b"again")


def test_capacity_is_read_only(impl):
    ring = impl.RingBuffer(16)
    with pytest.raises(AttributeError):
        ring.capacity = 1000
    assert ring.capacity == 16


def test_repr_shows_len_and_capacity(impl):
    ring = _filled(impl, b"abc", capacity=64)
    assert repr(ring) == "<pcp.RingBuffer len=3 capacity=64>"


def test_index_like_n_is_accepted(impl):
    class Three:
        def __index__(self):
            return 3

    ring = _filled(impl, b"abcdef")
    assert ring.peek(Three()) == b"abc"
    assert ring.read(True) == b"a"
    ring.advance(Three())
    _assert_holds(ring, b"ef")
    assert impl.RingBuffer(Three()).capacity == 3


# -- wrap-around and growth ---------------------------------------------------


def test_write_across_the_end_reads_back_in_order(impl):
    ring = impl.RingBuffer(16)
    ring.write(b"0123456789ab")      # 12 of 16
    assert ring.read(8) == b"01234567"
    ring.write(b"ABCDEFGH")          # 4 fit before the end, 4 wrap to the start
    assert ring.capacity == 16       # no growth was needed
    _assert_holds(ring, b"89abABCDEFGH")
    assert ring.peek(6) == b"89abAB"
    assert ring.read(5) == b"89abA"
    assert ring.read() == b"BCDEFGH"


def test_fill_exactly_then_wrap_repeatedly(impl):
    ring = impl.RingBuffer(10)
    model = bytearray()
    for i in range(50):
        chunk = bytes([i]) * 7
        ring.write(chunk)
        model += chunk
        n = 7 if i % 2 else 5
        assert ring.read(n) == bytes(model[:n])
        del model[:n]
        _assert_holds(ring, bytes(model))
    assert ring.capacity <= 64


def test_growth_while_wrapped_keeps_order(impl):
    ring = impl.RingBuffer(16)
    ring.write(b"0123456789ab")
    ring.read(8)
    ring.write(b"ABCDEFGH")          # wrapped: head at 8, data runs past the end
    big = bytes(range(100))
    ring.write(big)                  # does not fit: grows while wrapped
    assert ring.capacity >= 112
    _assert_holds(ring, b"89abABCDEFGH" + big)
    ring.write(b"tail")
    assert ring.read(12) == b"89abABCDEFGH"
    assert ring.read() == big + b"tail"


def test_growth_is_geometric_from_the_minimum_block(impl):
    ring = impl.RingBuffer(16)
    ring.write(b"x" * 17)
    assert ring.capacity == 64
    ring.write(b"x" * 48)            # 65 held
    assert ring.capacity == 128
    ring.write(b"x" * 1000)          # 1065 held
    assert ring.capacity == 2048
    assert ring.read() == b"x" * 1065


def test_growth_from_capacity_zero(impl):
    ring = impl.RingBuffer(0)
    assert ring.capacity == 0
    ring.write(b"")
    assert ring.capacity == 0
    ring.write(b"a")
    assert ring.capacity == 64
    ring.write(b"b" * 100)
    assert ring.capacity == 128
    assert ring.read() == b"a" + b"b" * 100


def test_capacity_zero_ring_returns_to_zero_when_cleared(impl):
    ring = impl.RingBuffer(0)
    ring.write(b"abc")
    ring.clear()
    assert ring.capacity == 0
    ring.write(b"def")
    assert ring.read() == b"def"


# -- shrinking (hysteresis) ---------------------------------------------------


def test_shrinks_toward_the_hint_after_a_small_drained_fill(impl):
    ring = impl.RingBuffer(64)
    ring.write(b"x" * 100_000)
    assert ring.capacity == 131072
    ring.read()
    # The fill that grew the ring used more than a quarter of it: no shrink yet.
    assert ring.capacity == 131072
    ring.write(b"y" * 1000)
    assert ring.read() == b"y" * 1000
    # This fill used <= 1/4: shrink to twice what it used, not below the hint.
    assert ring.capacity == 2000
    ring.write(b"z" * 100)
    ring.advance(100)
    assert ring.capacity == 200
    ring.write(b"w" * 10)
    ring.read(10)
    assert ring.capacity == 64       # the hint is the floor
    ring.write(b"v")
    ring.read()
    assert ring.capacity == 64


def test_shrink_threshold_is_a_quarter_of_the_ring(impl):
    ring = impl.RingBuffer(16)
    ring.write(b"x" * 100)
    ring.read()
    assert ring.capacity == 128
    ring.write(b"x" * 33)            # just over 128 / 4
    ring.read()
    assert ring.capacity == 128
    ring.write(b"x" * 32)            # exactly 128 / 4
    ring.read()
    assert ring.capacity == 64
    ring.write(b"x" * 17)
    ring.read()
    assert ring.capacity == 64
    ring.write(b"x" * 16)
    ring.read()
    assert ring.capacity == 32
    ring.write(b"x" * 8)
    ring.read()
    assert ring.capacity == 16


def test_no_shrink_while_the_fills_stay_large(impl):
    ring = impl.RingBuffer(64)
    ring.write(b"x" * 100_000)
    ring.read()
    for _ in range(20):
        ring.write(b"y" * 40_000)    # more than a quarter of 131072
        ring.read(10_000)
        ring.advance(30_000)
        assert ring.capacity == 131072
    _assert_holds(ring, b"")


def test_no_shrink_until_drained(impl):
    ring = impl.RingBuffer(64)
    ring.write(b"x" * 100_000)
    ring.read()
    ring.write(b"y" * 1000)
    ring.read(999)                   # one byte left: not drained
    assert ring.capacity == 131072
    ring.write(b"z" * 10)
    _assert_holds(ring, b"y" + b"z" * 10)
    assert ring.read() == b"y" + b"z" * 10
    assert ring.capacity == 2000


def test_partial_reads_of_a_small_fill_still_shrink(impl):
    ring = impl.RingBuffer(64)
    ring.write(b"x" * 100_000)
    ring.read()
    ring.write(b"a" * 500)
    ring.read(100)
    ring.write(b"b" * 500)           # 900 held at most in this fill
    ring.read(300)
    ring.read()
    assert ring.capacity == 1800


def test_clear_gives_memory_beyond_the_hint_back(impl):
    ring = impl.RingBuffer(100)
    ring.write(b"x" * 100_000)
    ring.clear()
    assert ring.capacity == 100
    _assert_holds(ring, b"")


def test_hint_above_use_is_kept(impl):
    ring = impl.RingBuffer(1 << 20)
    ring.write(b"x" * 10)
    ring.read()
    ring.clear()
    assert ring.capacity == 1 << 20


# -- accepted inputs ----------------------------------------------------------


class _BytesSub(bytes):
    pass


_ACCEPTED = {
    "bytes": lambda: (b"abcdef", b"abcdef"),
    "empty bytes": lambda: (b"", b""),
    "bytearray": lambda: (bytearray(b"abcdef"), b"abcdef"),
    "memoryview": lambda: (memoryview(b"abcdef"), b"abcdef"),
    "memoryview slice": lambda: (memoryview(b"abcdef")[1:4], b"bcd"),
    "bytearray view slice": lambda: (memoryview(bytearray(b"abcdef"))[2:], b"cdef"),
    "memoryview of one element, step": lambda: (memoryview(b"abc")[1::5], b"b"),
    "2-D C-contiguous memoryview": lambda: (
        memoryview(b"abcdef").cast("B", shape=[2, 3]),
        b"abcdef",
    ),
    "array('i') counts bytes": lambda: (
        array.array("i", [1, -2, 3]),
        array.array("i", [1, -2, 3]).tobytes(),
    ),
    "array('d')": lambda: (array.array("d", [0.5]), array.array("d", [0.5]).tobytes()),
    "bytes subclass": lambda: (_BytesSub(b"sub"), b"sub"),
}


@pytest.mark.parametrize("make", _ACCEPTED.values(), ids=_ACCEPTED.keys())
def test_accepted_input_types(impl, make):
    data, expected = make()
    ring = _filled(impl, b"<", capacity=8)
    ring.write(data)
    ring.write(b">")
    _assert_holds(ring, b"<" + expected + b">")
    assert len(ring) == 2 + len(expected)


def test_mmap_is_accepted(impl):
    with mmap.mmap(-1, 4096) as mapped:
        mapped.write(b"mapped bytes")
        ring = impl.RingBuffer()
        ring.write(mapped)
        assert len(ring) == 4096
        assert ring.read(12) == b"mapped bytes"
        assert ring.read() == bytes(4084)


def test_write_copies_the_callers_bytearray(impl):
    data = bytearray(b"original")
    ring = impl.RingBuffer()
    ring.write(data)
    data[:] = b"MUTATED!"
    data += b" and longer"
    assert ring.peek() == b"original"
    ring.write(memoryview(data)[:3])
    data[0:3] = b"zzz"
    assert ring.read() == b"originalMUT"


def test_write_does_not_hold_the_callers_buffer(impl):
    data = bytearray(b"abc")
    view = memoryview(data)
    ring = impl.RingBuffer()
    ring.write(view)
    view.release()
    data += b"d"                     # would raise BufferError if still exported
    ring.write(data)
    assert ring.read() == b"abcabcd"


def test_write_returns_none(impl):
    assert impl.RingBuffer().write(b"x") is None


def test_large_write_round_trips(impl):
    size = 64 << 20
    data = bytes(range(256)) * (size // 256)
    ring = impl.RingBuffer()
    ring.write(b"head")
    ring.write(data)
    assert len(ring) == size + 4
    assert ring.read(4) == b"head"
    out = ring.read()
    assert len(out) == size
    assert out == data
    assert not ring


# -- refused inputs -----------------------------------------------------------


_REFUSED_TYPES = {
    "str": ("abc", "str"),
    "None": (None, "NoneType"),
    "int": (5, "int"),
    "float": (1.5, "float"),
    "list": ([1, 2, 3], "list"),
    "object": (object(), "object"),
}


@pytest.mark.parametrize(
    "value, type_name", _REFUSED_TYPES.values(), ids=_REFUSED_TYPES.keys()
)
def test_non_buffers_raise_type_error_naming_the_type(impl, value, type_name):
    ring = impl.RingBuffer(16)
    ring.write(b"0123456789ab")
    ring.read(8)
    ring.write(b"ABCDEFGH")          # wrapped, so "unchanged" covers the wrap too
    before = (ring.peek(), len(ring), ring.capacity)
    with pytest.raises(TypeError) as info:
        ring.write(value)
    assert repr(type_name) in str(info.value)
    assert (ring.peek(), len(ring), ring.capacity) == before
    ring.write(b"!")
    assert ring.read() == b"89abABCDEFGH!"


_NON_CONTIGUOUS = {
    "step 2": lambda: memoryview(b"abcdef")[::2],
    "reversed": lambda: memoryview(b"abcdef")[::-1],
    "2-D column": lambda: memoryview(b"abcdef").cast("B", shape=[2, 3])[::-1],
    "empty with step": lambda: memoryview(b"")[::2],
}


@pytest.mark.parametrize("make", _NON_CONTIGUOUS.values(), ids=_NON_CONTIGUOUS.keys())
def test_non_contiguous_buffers_raise_buffer_error(impl, make):
    ring = _filled(impl, b"keep")
    with pytest.raises(BufferError):
        ring.write(make())
    _assert_holds(ring, b"keep")
    assert ring.capacity == 4096


def test_released_memoryview_raises_value_error(impl):
    view = memoryview(b"abc")
    view.release()
    ring = _filled(impl, b"keep")
    with pytest.raises(ValueError):
        ring.write(view)
    _assert_holds(ring, b"keep")


def test_write_takes_exactly_one_argument(impl):
    ring = _filled(impl, b"keep")
    with pytest.raises(TypeError):
        ring.write()
    with pytest.raises(TypeError):
        ring.write(b"a", b"b")
    _assert_holds(ring, b"keep")


# -- n arguments --------------------------------------------------------------


@pytest.mark.parametrize("method", ["read", "peek"])
@pytest.mark.parametrize("n", [-1, -2, -(1 << 40)])
def test_negative_n_means_everything(impl, method, n):
    ring = _filled(impl, b"abcdef")
    assert getattr(ring, method)(n) == b"abcdef"
    _assert_holds(ring, b"" if method == "read" else b"abcdef")


@pytest.mark.parametrize("method", ["read", "peek"])
def test_zero_n_returns_nothing_and_keeps_everything(impl, method):
    ring = _filled(impl, b"abcdef")
    assert getattr(ring, method)(0) == b""
    _assert_holds(ring, b"abcdef")


@pytest.mark.parametrize("method", ["read", "peek"])
@pytest.mark.parametrize("n", [7, 100, 1 << 40])
def test_n_beyond_len_returns_everything(impl, method, n):
    ring = _filled(impl, b"abcdef")
    assert getattr(ring, method)(n) == b"abcdef"
    _assert_holds(ring, b"" if method == "read" else b"abcdef")


@pytest.mark.parametrize("n", [-1, 7, 100])
def test_advance_out_of_range_raises_value_error_and_keeps_everything(impl, n):
    ring = _filled(impl, b"abcdef")
    with pytest.raises(ValueError, match="cannot advance"):
        ring.advance(n)
    _assert_holds(ring, b"abcdef")


def test_advance_on_empty_ring(impl):
    ring = impl.RingBuffer()
    ring.advance(0)
    with pytest.raises(ValueError):
        ring.advance(1)
    _assert_holds(ring, b"")


@pytest.mark.parametrize("method", ["read", "peek", "advance"])
@pytest.mark.parametrize("n", [1.0, 2.5, "1", None, b"1"], ids=repr)
def test_non_integer_n_raises_type_error(impl, method, n):
    ring = _filled(impl, b"abcdef")
    with pytest.raises(TypeError):
        getattr(ring, method)(n)
    _assert_holds(ring, b"abcdef")


def test_advance_requires_n(impl):
    with pytest.raises(TypeError):
        impl.RingBuffer().advance()


@pytest.mark.parametrize("capacity", [-1, -4096])
def test_negative_capacity_raises_value_error(impl, capacity):
    with pytest.raises(ValueError, match="capacity must be >= 0"):
        impl.RingBuffer(capacity)


@pytest.mark.parametrize("capacity", [1.0, "16", None], ids=repr)
def test_non_integer_capacity_raises_type_error(impl, capacity):
    with pytest.raises(TypeError):
        impl.RingBuffer(capacity)
