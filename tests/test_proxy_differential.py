"""The compiled proxy core and its pure-Python twin, driven by the same random scripts.

Each script is a seeded sequence of operations (writes of varied types and
sizes, some invalid; pause; resume; partial-write windows; mark changes;
register/unregister of push and pull producers; finish; stop). Both
implementations must give the same consumer events, the same producer events,
the same exceptions and the same state and counters after every operation.
"""

from __future__ import annotations

import array
import random
import sys

import pytest

from dummies import ChunkPullProducer, EventConsumer, EventProducer


class BytesSub(bytes):
    pass


class PushProducer(EventProducer):
    """An EventProducer with a repr that is the same in both runs."""

    def __init__(self, number: int) -> None:
        super().__init__()
        self.number = number

    def __repr__(self) -> str:
        return f"<push producer {self.number}>"


class PullProducer(ChunkPullProducer):
    """A ChunkPullProducer with a repr that is the same in both runs."""

    def __init__(self, proxy, count: int, number: int) -> None:
        super().__init__(proxy, count, size=37)
        self.number = number

    def __repr__(self) -> str:
        return f"<pull producer {self.number}>"


def make_script(seed: int, length: int = 250) -> list:
    """A reproducible list of operations for *seed*."""
    rng = random.Random(seed)
    script = []
    for i in range(length):
        r = rng.random()
        if r < 0.45:
            size = rng.choice([0, 1, 2, 10, 99, 100, 500, 4095, 4096, 4097, 12000])
            kind = rng.choice(["bytes", "bytes", "bytearray", "memoryview", "array", "subclass"])
            script.append(("write", kind, rng.randbytes(size)))
        elif r < 0.47:
            script.append(("write", rng.choice(["str", "none", "int", "strided"]), b""))
        elif r < 0.57:
            script.append(("pause",))
        elif r < 0.70:
            script.append(("resume",))
        elif r < 0.78:
            script.append(("window", rng.choice([0, 1, 50, 1000, 5000, sys.maxsize])))
        elif r < 0.82:
            script.append(("register", rng.random() < 0.7, rng.randrange(0, 30)))
        elif r < 0.85:
            script.append(("unregister",))
        elif r < 0.90:
            script.append(("bufferSize", rng.choice([0, 10, 100, 1000, 5000, 20000])))
        elif r < 0.94:
            script.append(("lowWater", rng.choice([None, 0, 5, 50, 500])))
        elif r < 0.97:
            script.append(("maxBufferSize", rng.choice([None, 1000, 8000, 50000])))
        elif r < 0.99 or i < length * 0.8:
            script.append(("finish",))
        else:
            script.append(("stop",))  # only late, so that most of a script runs unstopped
    return script


def payload(kind: str, data: bytes):
    """The object to write for a scripted write."""
    if kind == "bytes":
        return data
    if kind == "bytearray":
        return bytearray(data)
    if kind == "memoryview":
        return memoryview(data)
    if kind == "array":
        return array.array("B", data)
    if kind == "subclass":
        return BytesSub(data)
    if kind == "str":
        return "text"
    if kind == "none":
        return None
    if kind == "int":
        return 7
    if kind == "strided":
        return memoryview(b"abcdefgh")[::2]
    raise AssertionError(kind)


def proxy_class(ns, name: str, pull: bool):
    """The class under test: *name* of namespace *ns*, windowed where it can be, pull if asked."""
    base = getattr(ns, name)
    attrs = {}
    if pull:
        attrs["iAmStreaming"] = False
    if name == "ProducerConsumerProxy":

        def _writeSomeData(self, data):
            n = min(len(data), self.window)
            if n:
                base._writeSomeData(self, data[:n])
            self.window -= n
            return n

        attrs["_writeSomeData"] = _writeSomeData
    attrs["window"] = sys.maxsize
    return type("Scripted", (base,), attrs)


STATE = (
    "paused",
    "stopped",
    "outstandingPull",
    "producerPaused",
    "unregistered",
    "producerIsStreaming",
    "bufferSize",
    "lowWater",
    "maxBufferSize",
    "bufferedBytes",
    "peakBufferedBytes",
    "producerPauses",
    "bytesReceived",
    "bytesSent",
    "bytesDiscarded",
)


def run(ns, name: str, pull: bool, script: list) -> list:
    """Run *script* on one implementation; return the full trace."""
    consumer = EventConsumer()
    proxy = proxy_class(ns, name, pull)(consumer)
    producers = []
    trace = []
    for op in script:
        try:
            kind = op[0]
            if kind == "write":
                proxy.write(payload(op[1], op[2]))
            elif kind == "pause":
                proxy.pauseProducing()
            elif kind == "resume":
                proxy.resumeProducing()
            elif kind == "window":
                proxy.window = op[1]
            elif kind == "register":
                number = len(producers)
                producer = PushProducer(number) if op[1] else PullProducer(proxy, op[2], number)
                producers.append(producer)
                proxy.registerProducer(producer, op[1])
            elif kind == "unregister":
                proxy.unregisterProducer()
            elif kind in ("bufferSize", "lowWater", "maxBufferSize"):
                setattr(proxy, kind, op[1])
            elif kind == "finish":
                proxy.finish()
            elif kind == "stop":
                proxy.stopProducing()
            outcome = None
        except Exception as e:  # compared between the implementations
            outcome = (type(e).__name__, str(e))
        producer_events = [p.events if isinstance(p, EventProducer) else (p.pulls, p.sent, p.stopped) for p in producers]
        state = tuple(getattr(proxy, attr) for attr in STATE)
        trace.append((op[0], outcome, state, len(consumer.events), producer_events))
    trace.append(("events", consumer.events))
    return trace


@pytest.mark.parametrize("pull", [False, True], ids=["streaming", "pull"])
@pytest.mark.parametrize("name", ["BasicProducerConsumerProxy", "ProducerConsumerProxy"])
@pytest.mark.parametrize("seed", range(40))
def test_compiled_and_twin_agree(both, name, pull, seed):
    compiled, twin = both
    script = make_script(seed)
    a = run(compiled, name, pull, script)
    b = run(twin, name, pull, script)
    for step, (x, y) in enumerate(zip(a, b)):
        assert x == y, f"seed {seed}: first difference at step {step}, {script[step] if step < len(script) else 'end'}"
    assert len(a) == len(b)


def test_scripts_exercise_the_core(both):
    """The scripts reach what they are meant to compare: sends, refusals, pauses, stops."""
    _, twin = both
    seen = set()
    sent = 0
    for seed in range(40):
        for name in ("BasicProducerConsumerProxy", "ProducerConsumerProxy"):
            trace = run(twin, name, False, make_script(seed))
            seen.update(step[1][0] for step in trace[:-1] if step[1])
            seen.update("paused-upstream" for step in trace[:-1] if step[2][STATE.index("producerPauses")])
            seen.update("stopped" for step in trace[:-1] if step[2][STATE.index("stopped")])
            sent += sum(1 for event in trace[-1][1] if event[0] == "write")
    assert {"BufferFull", "TypeError", "BufferError", "ValueError", "RuntimeError"} <= seen
    assert {"paused-upstream", "stopped"} <= seen
    assert sent > 1000
