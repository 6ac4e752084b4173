"""Stateful property tests: both proxies, driven by Hypothesis, against a small model.

A ``RuleBasedStateMachine`` draws a proxy (Basic or buffered; streaming or
pull; with or without a ``_writeSomeData`` that takes part of a write; marks
and an optional hard cap) and then random sequences of: writes of random
sizes as bytes, bytearray or memoryview; refused writes; pause, resume, stop,
finish; register and unregister of push and pull producers; and consumer
moods (takes everything, takes at most k bytes, raises).

The model is lengths and flags, not bytes: how much is buffered, what the
proxy and its producer's pause states are, who is owed a pull, a finish or an
unregister. After every step, for every proxy under test:

* what the consumer received is a prefix of what was accepted, in order,
  without duplicates, and the counters add up (received = sent + buffered);
* the upstream push producer is paused exactly when the model says, a pull
  producer was pulled exactly as often as the model says, and a producer that
  was unregistered is never called again;
* a second register raises RuntimeError and changes nothing;
* the hard cap is never exceeded.

At the end, a cooperative consumer and a final resume deliver everything
accepted (unless the proxy was stopped, which keeps what it held).

The same machine runs on the compiled extension, on the twin, and on both at
once, where every step must also give the same result (values, exception
types and messages) on the two.
"""

from __future__ import annotations

import os
import sys
from typing import Any, List, Optional

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from pcp._errors import BufferFull

# CI budget: each of the three tests below runs this many sequences of this
# many steps. tools/memcheck.sh lowers the count (valgrind is ~50x slower).
MAX_EXAMPLES = int(os.environ.get("PCP_STATEFUL_EXAMPLES", "100"))
STEP_COUNT = int(os.environ.get("PCP_STATEFUL_STEPS", "50"))

SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    stateful_step_count=STEP_COUNT,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

ALL, SOME, RAISE = "all", "some", "raise"


class ConsumerError(Exception):
    """What a failing consumer raises from write."""


class Consumer:
    """A consumer in a mood: takes everything, takes at most ``k`` bytes, or raises.

    Taking part of a write is only possible through ``_writeSomeData``
    (``writeSome``); a plain ``write`` takes all or raises.
    """

    def __init__(self) -> None:
        self.received = bytearray()
        self.mood = ALL
        self.k = 0
        self.finishes = 0
        self.unregisters = 0
        self.registrations: List[Any] = []

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.registrations.append((producer, streaming))

    def unregisterProducer(self) -> None:
        self.unregisters += 1

    def finish(self) -> None:
        self.finishes += 1

    def write(self, data: bytes) -> None:
        assert type(data) is bytes, f"consumer got {type(data).__name__}"
        assert data, "consumer got an empty write"
        if self.mood == RAISE:
            raise ConsumerError("consumer refuses")
        self.received += data

    def writeSome(self, data: bytes) -> int:
        assert type(data) is bytes, f"consumer got {type(data).__name__}"
        assert data, "consumer got an empty write"
        if self.mood == RAISE:
            raise ConsumerError("consumer refuses")
        take = len(data) if self.mood == ALL else min(self.k, len(data))
        self.received += data[:take]
        return take


class Producer:
    """An upstream producer that records what the proxy told it."""

    def __init__(self, streaming: bool, name: str) -> None:
        self.name = name
        self.streaming = streaming
        self.paused = False
        self.pauses = 0
        self.resumes = 0
        self.stops = 0

    def pauseProducing(self) -> None:
        assert self.streaming, "a pull producer was paused"
        self.paused = True
        self.pauses += 1

    def resumeProducing(self) -> None:
        self.paused = False
        self.resumes += 1

    def stopProducing(self) -> None:
        self.stops += 1

    def calls(self) -> tuple:
        return (self.pauses, self.resumes, self.stops)

    def __repr__(self) -> str:
        # The same on every proxy under test, so their messages compare equal.
        return f"<Producer {self.name}>"


def _some_writer(cls: type) -> type:
    """A subclass of the buffered proxy whose consumer may take part of a write."""

    class PartialProxy(cls):  # type: ignore[misc, valid-type]
        def _writeSomeData(self, data: bytes) -> int:
            if self.consumer is None:
                return 0
            return self.consumer.writeSome(data)

    return PartialProxy


_CLASSES: dict = {}


def proxy_class(ns: Any, buffered: bool, streaming: bool, partial: bool) -> type:
    """The proxy class for one configuration (built once per namespace)."""
    base = ns.ProducerConsumerProxy if buffered else ns.BasicProducerConsumerProxy
    key = (base, streaming, partial)
    if key not in _CLASSES:
        if partial:
            base = _some_writer(base)
        if not streaming:
            # A class attribute, as Twisted's users write it.
            base = type(base.__name__ + "Pull", (base,), {"iAmStreaming": False})
        _CLASSES[key] = base
    return _CLASSES[key]


class Model:
    """What a proxy should do, in lengths and flags.

    It mirrors the documented protocol: the write path (straight through
    when nothing is buffered and the consumer wants data, else buffered), one
    send per flush, the watermarks, pulls, finish and unregister waiting for
    the buffer to drain. The bytes themselves are checked separately: the
    consumer's bytes must be a prefix of the accepted ones.
    """

    def __init__(self, buffered: bool, streaming: bool, partial: bool,
                 high: int, low: int, cap: Optional[int]) -> None:
        self.buffered = buffered
        self.streaming = streaming  # iAmStreaming
        self.partial = partial
        self.high = high
        self.low = low
        self.cap = cap
        self.mood = ALL
        self.k = 0
        self.held = 0              # bufferedBytes
        self.peak = 0
        self.accepted = 0          # bytesReceived
        self.sent = 0              # bytesSent
        self.discarded = 0
        self.paused = False
        self.stopped = False
        self.outstandingPull = False
        self.producer: Optional[str] = None     # None, "push" or "pull"
        self.producerPaused = False             # paused at the high-water mark
        self.upstreamPaused = False             # what the push producer should be
        self.pulls = 0
        self.producerPauses = 0
        self.unregistered = False
        self.unregisterPending = False
        self.finishPending = False
        self.finishes = 0
        self.unregisters = 0

    # -- the consumer -----------------------------------------------------------

    def _take(self, n: int) -> int:
        """One send of *n* bytes to the consumer: how many it takes."""
        if self.mood == RAISE:
            raise ConsumerError("consumer refuses")
        if self.mood == SOME and self.partial:
            return min(self.k, n)
        return n

    def _add(self, n: int) -> None:
        self.held += n
        self.peak = max(self.peak, self.held)

    def _drain(self) -> int:
        # One send per flush: a streaming proxy's loop ends when the buffer is
        # empty or the consumer took less; a pull proxy sends once.
        if not self.held or self.paused or self.stopped:
            return 0
        taken = self._take(self.held)
        self.held -= taken
        self.sent += taken
        return taken

    # -- watermarks -------------------------------------------------------------

    def _check_high(self) -> None:
        if (self.held >= self.high and self.held and not self.producerPaused
                and self.producer == "push"):
            self.producerPaused = True
            self.producerPauses += 1
            self.upstreamPaused = True

    def _check_low(self) -> bool:
        if self.producerPaused and self.held <= self.low:
            self.producerPaused = False
            if self.producer is not None:
                self.upstreamPaused = False
                return True
        return False

    def _wants_data(self) -> bool:
        return (self.producer == "pull" and not self.paused and not self.stopped
                and self.held < self.high)

    def _pull(self) -> None:
        # The pull producer of this machine never writes when pulled, so a
        # streaming proxy's pull loop asks exactly once when it wants data.
        if self.stopped:
            return
        if not self.streaming:
            # A pull proxy asks on behalf of its consumer, only when empty.
            if not self.held:
                self.pulls += 1
        elif self._wants_data():
            self.pulls += 1

    def _tell_if_drained(self) -> None:
        if self.held or self.stopped:
            return
        if self.finishPending:
            self.finishPending = False
            self.finishes += 1
        if self.unregisterPending:
            self.unregisterPending = False
            self.unregisters += 1

    # -- the protocol -------------------------------------------------------------

    def _wants(self) -> bool:
        return not self.paused and not self.stopped and (self.streaming or self.outstandingPull)

    def _leftovers_first(self) -> None:
        # What is buffered goes before anything a write brings; if the
        # consumer raises here, the write has not been accepted.
        if self.held and self._wants():
            if self._drain() and not self.streaming:
                self.outstandingPull = False

    def write(self, n: int) -> bool:
        """Model a write of *n* bytes; returns whether it was accepted."""
        if self.stopped:
            self.discarded += n
            return False
        self._leftovers_first()
        if self.paused or self.held or (not self.streaming and not self.outstandingPull):
            if self.cap is not None and n > self.cap - self.held:
                raise BufferFull("model")
            self._add(n)
            self.accepted += n
            self._check_high()
            self._check_low()
            return True
        if n == 0:
            return False
        if self.cap is not None and n > self.cap:
            raise BufferFull("model")
        taken = self._take(n)
        self.outstandingPull = False
        self.accepted += n
        self.sent += taken
        if taken < n:
            self._add(n - taken)
        if self.held:
            self._check_high()
            if self._wants():
                self._drain()
        self._check_low()
        return True

    def write_non_buffer(self) -> None:
        """Model a write of something that is not a buffer: TypeError."""
        if not self.stopped:
            self._leftovers_first()
        raise TypeError("model")

    def pauseProducing(self) -> None:
        self.paused = True
        if not self.buffered and self.producer == "push":
            self.upstreamPaused = True

    def resumeProducing(self) -> None:
        self.paused = False
        sent = self._drain()
        self._tell_if_drained()
        if self.buffered:
            if not self.streaming:
                self.outstandingPull = not sent
        elif not sent and not self.streaming:
            self.outstandingPull = True
        if self.producer is None or self.stopped:
            return
        if self.buffered:
            if self._check_low():
                return
            if self.producer == "pull":
                self._pull()
            elif self.outstandingPull and not self.producerPaused:
                # Never a producer the buffer paused: see
                # test_pull_proxy_keeps_a_producer_paused_at_the_mark below.
                self.upstreamPaused = False
        elif self.producer == "push":
            # Relayed; a mark that still holds pauses the producer again.
            self.producerPaused = False
            self.upstreamPaused = False
            self._check_high()
            self._check_low()
        else:
            self._pull()

    def stopProducing(self) -> None:
        self.stopped = True

    def registerProducer(self, kind: str) -> None:
        if self.producer is not None:
            raise RuntimeError("model")
        self.producer = kind
        self.pulls = 0
        self.producerPaused = False
        self.upstreamPaused = False
        self.unregistered = False
        self.unregisterPending = False
        if kind == "push":
            self._check_high()
            self._check_low()
        elif self.streaming:
            self._pull()
        elif not self.stopped:
            # As Twisted: one pull at once, for the first request; but a
            # stopped proxy calls no producer.
            self.pulls += 1

    def unregisterProducer(self) -> None:
        self.producer = None
        self.producerPaused = False
        self.upstreamPaused = False
        self.unregistered = True
        self.unregisterPending = True
        self._tell_if_drained()

    def finish(self) -> None:
        self.finishPending = True
        self.unregisterProducer()


class Subject:
    """One proxy under test with its consumer and producers."""

    def __init__(self, cls: type, buffered: bool, high: int, low: int, cap: Optional[int]) -> None:
        self.consumer = Consumer()
        self.proxy = cls(self.consumer)
        self.producers = 0
        if buffered:
            self.proxy.bufferSize = high
            self.proxy.lowWater = low
            self.proxy.maxBufferSize = cap
        self.accepted = bytearray()
        self.producer: Optional[Producer] = None
        self.retired: List[tuple] = []   # (producer, its calls when unregistered)


def _outcome(call: Any) -> tuple:
    """(result, exception type, message) of *call*; only the expected kinds are caught."""
    try:
        return call(), None, None
    except (ConsumerError, BufferFull, RuntimeError, TypeError) as exc:
        return None, type(exc), str(exc)


def _payload(kind: str, data: bytes) -> Any:
    if kind == "bytes":
        return data
    if kind == "bytearray":
        return bytearray(data)
    if kind == "memoryview":
        return memoryview(data)
    # A contiguous window into a bigger mutable buffer.
    big = bytearray(b"<" + data + b">")
    return memoryview(big)[1 : 1 + len(data)]


class ProxyMachine(RuleBasedStateMachine):
    """Random protocol traffic on one or more proxies, checked against Model."""

    namespaces: tuple = ()
    config: tuple = (True, True, False)  # (buffered, streaming, partial)

    def __init__(self) -> None:
        super().__init__()
        self.subjects: List[Subject] = []
        self.model: Optional[Model] = None
        self.counter = 0

    @initialize(
        high=st.one_of(st.integers(1, 16), st.integers(1, 200)),
        low_fraction=st.one_of(st.none(), st.floats(0, 1)),
        cap_extra=st.one_of(st.none(), st.integers(0, 300)),
        first=st.sampled_from(["push", "pull", None]),
    )
    def setup(self, high, low_fraction, cap_extra, first):
        buffered, streaming, partial = self.config
        if buffered:
            low = high // 4 if low_fraction is None else int(high * low_fraction)
            cap = None if cap_extra is None else high + cap_extra
        else:
            high, low, cap = sys.maxsize, sys.maxsize // 4, None
        self.model = Model(buffered, streaming, partial, high, low, cap)
        for ns in self.namespaces:
            cls = proxy_class(ns, buffered, streaming, partial)
            subject = Subject(cls, buffered, high, low, cap)
            assert subject.consumer.registrations == [(subject.proxy, streaming)]
            self.subjects.append(subject)
        if first is not None:
            self.register(streaming=first == "push")

    def _same(self, outcomes: List[tuple], expected: Optional[type]) -> None:
        """Every proxy raised what the model did (or not); all said the same."""
        for got in outcomes:
            assert got[1] is expected, (got, expected)
        assert all(got == outcomes[0] for got in outcomes), outcomes

    # -- rules ----------------------------------------------------------------------

    @rule(size=st.integers(0, 40), kind=st.sampled_from(["bytes", "bytearray", "memoryview", "window"]))
    def write(self, size, kind):
        data = bytes((self.counter + i) % 251 for i in range(size))
        self.counter += size + 1
        expected = _outcome(lambda: self.model.write(size))
        outcomes = []
        for s in self.subjects:
            obj = _payload(kind, data)
            outcomes.append(_outcome(lambda: s.proxy.write(obj)))
            if s.proxy.bytesReceived > len(s.accepted):
                s.accepted += data  # checked against the model's count below
            if isinstance(obj, memoryview) and not obj.readonly:
                obj[:] = b"\xff" * len(obj)  # the proxy kept a copy, not a view
            elif isinstance(obj, bytearray):
                obj[:] = b"\xff" * len(obj)
        self._same(outcomes, expected[1])

    @rule(size=st.integers(0, 400), kind=st.sampled_from(["bytes", "bytearray"]))
    def write_big(self, size, kind):
        self.write(size=size, kind=kind)

    @rule()
    def consumer_blocks(self):
        # A transport that is full: takes nothing (where it can take part).
        self.consumer_mood(mood=SOME, k=0)

    @rule(obj=st.sampled_from(["text", None, 7, 1.5, [1, 2]]))
    def write_non_buffer(self, obj):
        expected = _outcome(self.model.write_non_buffer)
        self._same([_outcome(lambda: s.proxy.write(obj)) for s in self.subjects], expected[1])

    @rule()
    def pause(self):
        self.model.pauseProducing()
        for s in self.subjects:
            s.proxy.pauseProducing()

    @rule()
    def resume(self):
        expected = _outcome(self.model.resumeProducing)
        self._same([_outcome(s.proxy.resumeProducing) for s in self.subjects], expected[1])

    @rule(mood=st.sampled_from([ALL, SOME, RAISE]), k=st.one_of(st.just(0), st.integers(0, 60)))
    def consumer_mood(self, mood, k):
        self.model.mood, self.model.k = mood, k
        for s in self.subjects:
            s.consumer.mood, s.consumer.k = mood, k

    @rule(streaming=st.booleans())
    def register(self, streaming):
        kind = "push" if streaming else "pull"
        expected = _outcome(lambda: self.model.registerProducer(kind))
        outcomes = []
        for s in self.subjects:
            s.producers += 1
            producer = Producer(streaming, f"{kind} #{s.producers}")
            before = (s.proxy.producer, s.proxy.producerIsStreaming, s.proxy.bufferedBytes)
            outcomes.append(_outcome(lambda: s.proxy.registerProducer(producer, streaming)))
            if outcomes[-1][1] is None:
                s.producer = producer
            else:
                # A second register changes nothing.
                assert (s.proxy.producer, s.proxy.producerIsStreaming, s.proxy.bufferedBytes) == before
                assert producer.calls() == (0, 0, 0)
        self._same(outcomes, expected[1])

    @precondition(lambda self: self.model.producer is not None)
    @rule()
    def register_again(self):
        # Hypothesis reaches a second register through ``register`` too; this
        # makes sure every run with a producer tries it.
        self.register(streaming=self.model.producer == "pull")

    def _retire_producers(self):
        for s in self.subjects:
            if s.producer is not None:
                s.retired.append((s.producer, s.producer.calls()))
                s.producer = None

    @rule()
    def unregister(self):
        self.model.unregisterProducer()
        self._retire_producers()
        for s in self.subjects:
            s.proxy.unregisterProducer()

    @rule()
    def finish(self):
        self.model.finish()
        self._retire_producers()
        for s in self.subjects:
            s.proxy.finish()

    @rule(now=st.integers(0, 4))
    def stop(self, now):
        # Stopping ends the interesting part of a run: do it one time in five.
        if now:
            return
        self.model.stopProducing()
        for s in self.subjects:
            stops = s.producer.stops if s.producer else 0
            s.proxy.stopProducing()
            assert s.proxy.consumer is None
            if s.producer:
                assert s.producer.stops == stops + 1

    # -- invariants -------------------------------------------------------------------

    @invariant()
    def consumer_got_a_prefix_of_what_was_accepted(self):
        for s in self.subjects:
            got = s.consumer.received
            assert len(s.accepted) == s.proxy.bytesReceived == self.model.accepted
            assert got == s.accepted[: len(got)]
            assert len(got) == s.proxy.bytesSent == self.model.sent
            assert s.proxy.bufferedBytes == len(s.accepted) - len(got) == self.model.held

    @invariant()
    def counters_and_flags_follow_the_model(self):
        m = self.model
        for s in self.subjects:
            p = s.proxy
            assert p.bytesDiscarded == m.discarded
            assert p.peakBufferedBytes == m.peak
            assert p.producerPauses == m.producerPauses
            assert (p.paused, p.stopped, p.unregistered) == (m.paused, m.stopped, m.unregistered)
            assert p.producerPaused == m.producerPaused
            assert p.outstandingPull == m.outstandingPull
            assert (s.consumer.finishes, s.consumer.unregisters) == (m.finishes, m.unregisters)
            if m.cap is not None:
                assert p.bufferedBytes <= m.cap

    @invariant()
    def producer_is_paused_exactly_when_the_model_says(self):
        m = self.model
        for s in self.subjects:
            if m.producer is None:
                assert s.proxy.producer is None and s.producer is None
                continue
            assert s.proxy.producer is s.producer
            assert s.proxy.producerIsStreaming == (m.producer == "push")
            if m.producer == "push":
                assert s.producer.paused == m.upstreamPaused
            else:
                assert s.producer.resumes == m.pulls and s.producer.pauses == 0

    @invariant()
    def unregistered_producers_are_left_alone(self):
        for s in self.subjects:
            for producer, calls in s.retired:
                assert producer.calls() == calls

    def teardown(self):
        if self.model is None:
            return
        # A cooperative consumer and one last resume: everything arrives.
        for s in self.subjects:
            s.consumer.mood = ALL
            before = s.proxy.bufferedBytes
            s.proxy.resumeProducing()
            if s.proxy.stopped:
                assert s.proxy.bufferedBytes == before
                continue
            assert s.consumer.received == s.accepted
            assert s.proxy.bufferedBytes == 0
            assert s.proxy.bytesSent == s.proxy.bytesReceived == len(s.accepted)
        if len(self.subjects) > 1:
            first = self.subjects[0]
            for s in self.subjects[1:]:
                assert s.consumer.received == first.consumer.received


CONFIGS = {
    "basic": (False, True, False),
    "basic-pull": (False, False, False),
    "buffered": (True, True, False),
    "buffered-pull": (True, False, False),
    "buffered-partial": (True, True, True),
    "buffered-pull-partial": (True, False, True),
}


def _machine(namespaces: tuple, config: str) -> type:
    attrs = {"namespaces": namespaces, "config": CONFIGS[config]}
    return type("ProxyMachine", (ProxyMachine,), attrs)


@pytest.mark.parametrize("config", CONFIGS)
def test_proxies_follow_the_model(impl, config):
    run_state_machine_as_test(_machine((impl,), config), settings=SETTINGS)


@pytest.mark.parametrize("config", CONFIGS)
def test_compiled_and_twin_agree_step_by_step(both, config):
    run_state_machine_as_test(_machine(both, config), settings=SETTINGS)


class _Blocked:
    """A consumer whose transport is full: ``_writeSomeData`` takes nothing."""

    def registerProducer(self, producer, streaming):
        pass

    def write(self, data):
        raise AssertionError("not called: the proxy uses _writeSomeData")


def test_pull_proxy_keeps_a_producer_paused_at_the_mark(impl):
    class PullProxy(impl.ProducerConsumerProxy):
        iAmStreaming = False

        def _writeSomeData(self, data):
            return 0

    proxy = PullProxy(_Blocked())
    proxy.bufferSize = 10
    producer = Producer(True, "push")
    proxy.registerProducer(producer, True)
    proxy.write(b"x" * 20)  # buffered: no pull outstanding; at the mark
    assert producer.paused and proxy.producerPaused
    proxy.resumeProducing()  # the consumer asks; takes nothing
    # The buffer is still above the low-water mark: the producer must stay paused.
    assert producer.paused == proxy.producerPaused == True  # noqa: E712


def test_stopped_pull_proxy_does_not_pull_a_new_producer(impl):
    class PullProxy(impl.BasicProducerConsumerProxy):
        iAmStreaming = False

    proxy = PullProxy(Consumer())
    proxy.stopProducing()
    producer = Producer(False, "pull")
    proxy.registerProducer(producer, False)
    proxy.resumeProducing()
    assert producer.calls() == (0, 0, 0)  # no producer calls after stop
