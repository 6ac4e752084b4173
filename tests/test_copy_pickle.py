"""Copies and pickles of rings and proxies: refused, the same way in both implementations.

A proxy or a ring owns a buffer and is wired to a live consumer and
producer: a copy would share the buffer (the twin's slots did, issue 12 case
3) or duplicate data in flight. So ``copy.copy``, ``copy.deepcopy`` and
``pickle.dumps`` (every protocol) raise ``TypeError("cannot copy or pickle
'Name' objects")``, for pcp's classes and for user subclasses, and leave the
original working. Also here: a flush that makes no progress never loops.
"""

from __future__ import annotations

import copy
import pickle

import pytest

from dummies import DummyConsumer, EventProducer
from issue12_pending import pending


OPERATIONS = {
    "copy": copy.copy,
    "deepcopy": copy.deepcopy,
    **{f"pickle{p}": (lambda obj, p=p: pickle.dumps(obj, protocol=p)) for p in range(pickle.HIGHEST_PROTOCOL + 1)},
}


def make(ns, name: str):
    """A ring or proxy of *name* (``Sub...``: a user subclass), holding buffered data."""
    subclass = name.startswith("Sub")
    base = getattr(ns, name[3:] if subclass else name)
    cls = type(name, (base,), {"own": 1}) if subclass else base  # RingBuffer is final
    if issubclass(cls, ns.RingBuffer):
        obj = cls(64)
        obj.write(b"held before the copy")
        return obj
    obj = cls(DummyConsumer())
    obj.registerProducer(EventProducer(), True)
    obj.pauseProducing()
    obj.write(b"held before the copy")
    obj.write(b"x" * 5000)
    return obj


NAMES = [
    "RingBuffer",
    "BasicProducerConsumerProxy",
    "ProducerConsumerProxy",
    "SubBasicProducerConsumerProxy",
    "SubProducerConsumerProxy",
]


def still_works(obj) -> None:
    """The original is intact and usable after a refused copy."""
    if hasattr(obj, "peek"):
        obj.write(b"!")
        assert obj.read() == b"held before the copy!"
        return
    consumer = obj.consumer
    obj.resumeProducing()
    obj.write(b"!")
    assert consumer.getvalue() == b"held before the copy" + b"x" * 5000 + b"!"
    assert obj.bufferedBytes == 0 and obj.bytesSent == obj.bytesReceived


@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("name", NAMES)
def test_copies_and_pickles_are_refused_with_a_type_error(impl, name, operation, request):
    if impl.kind == "twin" and operation not in ("pickle0", "pickle1"):
        request.applymarker(pending("the twin copies its slots"))
    obj = make(impl, name)
    with pytest.raises(TypeError):
        OPERATIONS[operation](obj)
    still_works(obj)


@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("name", NAMES)
@pending("no common refusal message yet")
def test_the_refusal_says_what_was_refused(impl, name, operation):
    obj = make(impl, name)
    with pytest.raises(TypeError) as info:
        OPERATIONS[operation](obj)
    assert str(info.value) == f"cannot copy or pickle {type(obj).__name__!r} objects"


@pytest.mark.parametrize("name", NAMES)
def test_both_implementations_refuse_alike(both, name, request):
    """Type and message, operation by operation, compiled against twin."""
    request.applymarker(pending("the twin copies its slots"))
    outcomes = []
    for ns in both:
        obj = make(ns, name)
        row = []
        for operation in OPERATIONS.values():
            try:
                operation(obj)
                row.append("copied")
            except Exception as e:  # compared between the implementations
                row.append((type(e).__name__, str(e)))
        outcomes.append(row)
    assert outcomes[0] == outcomes[1]


def test_issue12_case3_a_copied_ring_does_not_share_storage(impl, request):
    """Issue 12, case 3: refused (what pcp does), or a real copy; never one storage for two rings."""
    if impl.kind == "twin":
        request.applymarker(pending("case 3, the twin shares storage"))
    ring = impl.RingBuffer(64)
    ring.write(b"original")
    try:
        twin = copy.copy(ring)
    except TypeError:
        return
    twin.write(b"+copy")
    twin.read(3)
    assert ring.peek() == b"original"
    assert len(ring) == 8


class CountingConsumer(DummyConsumer):
    """A DummyConsumer that fails the test instead of looping for ever."""

    calls = 0

    def write(self, data: bytes) -> None:
        self.calls += 1
        if self.calls > 1000:
            raise AssertionError("the consumer was called more than 1000 times: a flush loops")
        super().write(data)


@pytest.mark.parametrize("name", ["BasicProducerConsumerProxy", "ProducerConsumerProxy"])
def test_issue12_case3_resuming_a_copied_proxy_and_then_the_original_returns(impl, name, request):
    """Issue 12, case 3: copy a proxy with data buffered, resume the copy, then the original."""
    if impl.kind == "twin":
        request.applymarker(pending("case 3, the original's flush loops"))
    consumer = CountingConsumer()
    proxy = getattr(impl, name)(consumer)
    proxy.pauseProducing()
    proxy.write(b"a" * 100)
    proxy.write(b"b" * 5000)
    try:
        other = copy.copy(proxy)
    except TypeError:
        still = b"a" * 100 + b"b" * 5000
        proxy.resumeProducing()
        assert consumer.getvalue() == still
        return
    other.resumeProducing()
    proxy.resumeProducing()
    # Each accepted byte reached the consumer once, whichever object sent it.
    assert consumer.getvalue() == b"a" * 100 + b"b" * 5000


def no_progress_class(ns, limit: int = 1000):
    """A ProducerConsumerProxy whose _writeSomeData never takes anything (and counts its calls)."""

    class Stuck(ns.ProducerConsumerProxy):
        calls = 0

        def _writeSomeData(self, data: bytes) -> int:
            self.calls += 1
            if self.calls > limit:
                raise AssertionError(f"_writeSomeData called {self.calls} times: a flush loops")
            return 0

    return Stuck


@pytest.mark.parametrize("streaming", [True, False], ids=["streaming-proxy", "pull-proxy"])
def test_a_flush_that_makes_no_progress_returns(impl, streaming):
    cls = no_progress_class(impl)
    if not streaming:
        cls = type("StuckPull", (cls,), {"iAmStreaming": False})
    consumer = DummyConsumer()
    proxy = cls(consumer)
    proxy.write(b"first")  # passed to _writeSomeData, which takes nothing: buffered
    proxy.pauseProducing()
    proxy.write(b"x" * 10_000)
    for _ in range(3):
        proxy.resumeProducing()
        proxy.write(b"more")
    assert proxy.calls <= 20
    assert proxy.bufferedBytes == proxy.bytesReceived == 5 + 10_000 + 12
    assert consumer.getvalue() == b""


@pytest.mark.parametrize("streaming_producer", [True, False], ids=["push-producer", "pull-producer"])
def test_a_flush_that_makes_no_progress_returns_with_a_producer(impl, streaming_producer):
    """The producer writes on every resume or pull; nothing goes out; every call returns."""

    class Producer:
        pulls = 0

        def resumeProducing(self) -> None:
            self.pulls += 1
            if self.pulls > 1000:
                raise AssertionError("pulled more than 1000 times: the proxy loops")
            proxy.write(b"p" * 100)

        def pauseProducing(self) -> None:
            pass

        def stopProducing(self) -> None:
            pass

    proxy = no_progress_class(impl, limit=5000)(DummyConsumer())
    proxy.bufferSize = 4096
    proxy.registerProducer(Producer(), streaming_producer)
    proxy.resumeProducing()
    proxy.resumeProducing()
    assert proxy.bytesSent == 0
    assert proxy.bufferedBytes == proxy.bytesReceived <= 4096 + 3 * 100
