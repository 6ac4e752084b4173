"""CPython keeps its attribute-read caches for the compiled proxies.

The protocol layer reads ``producer``, ``stopped``, ``iAmStreaming``,
``producerIsStreaming`` and ``consumer`` on every pull. On the compiled
implementation they are plain instance attributes in a dict of the proxy's
own, so CPython 3.11+ specialises those reads (``LOAD_ATTR_WITH_HINT`` and
kin). Two ways to lose that without any test failing but the noisy gate:
turning them back into getset descriptors (never specialised), or letting
CPython make the instance dict itself (for a subclass of a C type it shares
its keys with the class, and on 3.11 and 3.13, not 3.12, the specialised read
then misses every time, so the instruction flips between specialised and
not). Read through
``dis.get_instructions(adaptive=True)``: a CPython detail, checked only where
it exists.
"""

from __future__ import annotations

import dis
import sys

import pytest

from dummies import DummyConsumer

pytestmark = pytest.mark.skipif(
    sys.implementation.name != "cpython" or sys.version_info < (3, 11),
    reason="specialised attribute reads are a CPython 3.11+ feature",
)

PER_PULL = ["producer", "stopped", "iAmStreaming", "producerIsStreaming", "consumer"]


def read_instructions(obj, names, calls=3000):
    """The LOAD_ATTR forms a function reading *names* of *obj* goes through over *calls* calls."""
    namespace: dict = {}
    exec("def read(o):\n    return " + ", ".join(f"o.{name}" for name in names) + "\n", namespace)
    read = namespace["read"]
    seen = set()
    for i in range(calls):
        read(obj)
        if i % 100 == 99:
            seen.update(
                ins.opname for ins in dis.get_instructions(read, adaptive=True) if ins.opname.startswith("LOAD_ATTR")
            )
    return seen


def all_specialised(forms):
    return bool(forms) and all(form.startswith("LOAD_ATTR_") and form != "LOAD_ATTR_ADAPTIVE" for form in forms)


def test_the_probe_sees_a_read_that_is_not_cached():
    # Reads through getset descriptors, as the compiled core's fields were.
    assert not all_specialised(read_instructions(memoryview(b"ab"), ["nbytes", "readonly"]))


@pytest.mark.parametrize("name", ["BasicProducerConsumerProxy", "ProducerConsumerProxy"])
def test_per_pull_reads_stay_cached_on_the_compiled_proxies(impl, name):
    if impl.kind != "compiled":
        pytest.skip("the twin keeps these in __slots__, whose reads CPython caches anyway")

    class Mine(getattr(impl, name)):
        iAmStreaming = False

    proxy = Mine(DummyConsumer())
    proxy.note = "a subclass's own attribute"
    forms = read_instructions(proxy, PER_PULL + ["note"])
    assert all_specialised(forms), forms
