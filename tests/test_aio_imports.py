"""``import pcp`` stays light (no asyncio, Twisted or zope), and Twisted still finds
the interfaces declared, whichever of pcp and Twisted is imported first.

Each check runs in a fresh interpreter: the test process has imported everything.
"""

import json
import subprocess
import sys

import pytest


def run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_pcp_imports_neither_asyncio_nor_twisted():
    facts = run(
        "import sys, json, pcp\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('asyncio', 'twisted', 'zope', 'uvloop')]\n"
        "print(json.dumps(heavy))"
    )
    assert facts == []


def test_import_pcp_aio_imports_asyncio_but_not_twisted():
    facts = run(
        "import sys, json, pcp.aio\n"
        "print(json.dumps([m for m in ('asyncio', 'twisted', 'zope', 'uvloop') if m in sys.modules]))"
    )
    assert facts == ["asyncio"]


CHECK = (
    "from twisted.internet.interfaces import IConsumer, IPushProducer, IProducer\n"
    "from pcp._implementations import load\n"
    "classes = [pcp.ProducerConsumerProxy, pcp.BasicProducerConsumerProxy,\n"
    "           load('twin').ProducerConsumerProxy, load('twin').BasicProducerConsumerProxy]\n"
    "print(json.dumps([[i.providedBy(c(None)) for i in (IConsumer, IPushProducer, IProducer)]\n"
    "                  for c in classes]))"
)


@pytest.mark.parametrize("order", ["pcp first", "twisted first"])
def test_twisted_finds_the_interfaces_declared(order):
    pytest.importorskip("twisted")
    if order == "pcp first":
        code = "import json, pcp\nimport twisted.internet.interfaces\n" + CHECK
    else:
        code = "import json\nimport twisted.internet.interfaces\nimport pcp\n" + CHECK
    assert run(code) == [[True, True, True]] * 4


def test_the_finder_steps_aside_after_twisted_is_imported():
    pytest.importorskip("twisted")
    facts = run(
        "import sys, json, pcp\n"
        "before = [type(f).__name__ for f in sys.meta_path]\n"
        "import twisted.internet.interfaces as m\n"
        "after = [type(f).__name__ for f in sys.meta_path]\n"
        "print(json.dumps([before, after, type(m.__loader__).__name__, type(m.__spec__.loader).__name__]))"
    )
    before, after, loader, spec_loader = facts
    assert "_TwistedInterfacesFinder" in before
    assert "_TwistedInterfacesFinder" not in after
    assert loader == spec_loader == "SourceFileLoader"  # the real loader, restored


def test_without_twisted_nothing_is_declared_and_nothing_breaks():
    # Twisted blocked from importing: pcp works, and the finder costs nothing but waiting.
    facts = run(
        "import sys, json\n"
        "sys.modules['twisted'] = None\n"
        "import pcp\n"
        "p = pcp.ProducerConsumerProxy(None); p.write(b'x')\n"
        "print(json.dumps(p.bufferedBytes))"
    )
    assert facts == 1
