"""RingBuffer under random operation sequences: against a bytearray model, and
compiled against twin (results, exceptions, len and the modelled capacity)."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

_PATTERN = bytes(range(251)) * 24     # > 5000 bytes; 251 is prime, so offsets differ

_DATA_KINDS = ["bytes", "bytearray", "memoryview", "memoryview slice", "bytes subclass"]
_BAD_INPUTS = ["str", "None", "int", "list", "non-contiguous"]


class _BytesSub(bytes):
    pass


def _make_data(kind, size, seed):
    """A fresh object of *kind* holding *size* bytes; returns (object, its bytes)."""
    start = seed % 251
    raw = _PATTERN[start : start + size]
    if kind == "bytes":
        return raw, raw
    if kind == "bytearray":
        return bytearray(raw), raw
    if kind == "memoryview":
        return memoryview(raw), raw
    if kind == "memoryview slice":
        padded = b"<" + raw + b">"
        return memoryview(padded)[1 : 1 + size], raw
    return _BytesSub(raw), raw


def _make_bad(kind):
    """A refused write argument and the exception it must raise."""
    return {
        "str": ("text", TypeError),
        "None": (None, TypeError),
        "int": (42, TypeError),
        "list": ([1, 2], TypeError),
        "non-contiguous": (memoryview(b"abcdef")[::2], BufferError),
    }[kind]


_sizes = st.one_of(
    st.integers(0, 80),                 # small: wrap inside a small ring
    st.integers(0, 5000),               # large: growth
    st.sampled_from([63, 64, 65, 127, 128, 129, 4095, 4096, 4097]),
)
_counts = st.one_of(
    st.integers(-3, 200),
    st.integers(-3, 6000),
    st.sampled_from([-1, 0, 1]),
)

_ops = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(_DATA_KINDS), _sizes, st.integers(0, 250)),
    st.tuples(st.just("write_bad"), st.sampled_from(_BAD_INPUTS)),
    st.tuples(st.just("read"), _counts),
    st.tuples(st.just("read_all")),
    st.tuples(st.just("peek"), _counts),
    st.tuples(st.just("advance"), _counts),
    st.tuples(st.just("clear")),
    # A write followed by a read of everything: drains often, to exercise shrinking.
    st.tuples(st.just("burst"), _sizes),
)
_op_lists = st.lists(_ops, max_size=60)
_capacities = st.one_of(st.sampled_from([0, 1, 16, 64, 100, 4096]), st.integers(0, 10_000))


def _apply(ring, op):
    """Run *op* on *ring*; return ("ok", result) or ("raised", type, message)."""
    name = op[0]
    try:
        if name == "write":
            data, _ = _make_data(*op[1:])
            return ("ok", ring.write(data))
        if name == "write_bad":
            return ("ok", ring.write(_make_bad(op[1])[0]))
        if name == "read_all":
            return ("ok", ring.read())
        if name == "burst":
            ring.write(_PATTERN[: op[1]])
            return ("ok", ring.read())
        if name == "clear":
            return ("ok", ring.clear())
        return ("ok", getattr(ring, name)(op[1]))
    except Exception as exc:
        return ("raised", type(exc), str(exc))


def _model_step(model, op):
    """Apply *op* to the bytearray *model*; return the expected result or exception type."""
    name = op[0]
    if name == "write":
        model += _make_data(*op[1:])[1]
        return None
    if name == "write_bad":
        return _make_bad(op[1])[1]
    if name == "clear":
        model.clear()
        return None
    if name == "burst":
        out = bytes(model) + _PATTERN[: op[1]]
        model.clear()
        return out
    if name == "advance":
        n = op[1]
        if not 0 <= n <= len(model):
            return ValueError
        del model[:n]
        return None
    n = -1 if name == "read_all" else op[1]
    if n < 0 or n > len(model):
        n = len(model)
    out = bytes(model[:n])
    if name != "peek":
        del model[:n]
    return out


@_SETTINGS
@given(capacity=_capacities, ops=_op_lists)
def test_ring_matches_a_bytearray_model(impl, capacity, ops):
    ring = impl.RingBuffer(capacity)
    model = bytearray()
    for op in ops:
        expected = _model_step(model, op)
        outcome = _apply(ring, op)
        if isinstance(expected, type):
            assert outcome[:2] == ("raised", expected), op
        else:
            assert outcome == ("ok", expected), op
        assert ring.peek() == model, op
        assert len(ring) == len(model), op
        assert bool(ring) is bool(model), op
        assert ring.capacity >= len(model), op


@_SETTINGS
@given(capacity=_capacities, ops=_op_lists)
def test_compiled_and_twin_agree(both, capacity, ops):
    compiled, twin = both
    rings = compiled.RingBuffer(capacity), twin.RingBuffer(capacity)
    for op in ops:
        outcomes = [_apply(ring, op) for ring in rings]
        assert outcomes[0] == outcomes[1], op
        assert len(rings[0]) == len(rings[1]), op
        assert rings[0].capacity == rings[1].capacity, op
        assert bool(rings[0]) is bool(rings[1]), op
        assert repr(rings[0]) == repr(rings[1]), op
    assert rings[0].peek() == rings[1].peek()


# -- divergences found between the two implementations -----------------------


def _outcome(call):
    try:
        call()
    except Exception as exc:
        return type(exc)
    return "ok"


_HUGE = 1 << 70

_HUGE_N_CALLS = {
    "read(2**70)": lambda R: R().read(_HUGE),
    "peek(-2**70)": lambda R: R().peek(-_HUGE),
    "advance(2**70)": lambda R: R().advance(_HUGE),
    "RingBuffer(2**70)": lambda R: R(_HUGE),
}


@pytest.mark.parametrize("call", _HUGE_N_CALLS.values(), ids=_HUGE_N_CALLS.keys())
def test_n_beyond_ssize_t_is_handled_alike(both, call):
    compiled, twin = both
    assert _outcome(lambda: call(compiled.RingBuffer)) == _outcome(
        lambda: call(twin.RingBuffer)
    )


def test_write_keyword_is_handled_alike(both):
    compiled, twin = both
    assert _outcome(lambda: compiled.RingBuffer().write(data=b"x")) == _outcome(
        lambda: twin.RingBuffer().write(data=b"x")
    )
