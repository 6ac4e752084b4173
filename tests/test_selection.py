"""Which implementation `import pcp` selected, and that it is the one we think."""

import os
import subprocess
import sys

import pcp
from pcp import _buffer_py, _core, _queue_py

from conftest import NO_EXTENSIONS


def test_selected_implementation_is_the_expected_one():
    # A silent fallback to the twin would make every "compiled" result a lie.
    if NO_EXTENSIONS:
        assert pcp.EXTENSIONS is False
        assert pcp.RingBuffer is _buffer_py.RingBuffer
        assert issubclass(pcp.ProducerConsumerProxy, _core.BufferedCore)
        assert _core.__file__.endswith(".py")
    else:
        from pcp import _buffer, _core_c, _queue

        assert pcp.EXTENSIONS is True
        assert pcp.RingBuffer is _buffer.RingBuffer
        assert issubclass(pcp.ProducerConsumerProxy, _core_c.BufferedCore)
        for module in (_buffer, _core_c, _queue):
            assert module.__file__.endswith((".so", ".pyd")), module.__file__


def test_the_compiled_core_is_compiled_from_the_twin_source():
    # One source: pcp/_core.py runs as the twin and is compiled as pcp._core_c.
    if NO_EXTENSIONS:
        return
    from pcp import _core_c

    for name in ("BasicCore", "BufferedCore"):
        twin, compiled = getattr(_core, name), getattr(_core_c, name)
        public = {attr for attr in vars(twin) if not attr.startswith("_")} | {"__init__", "__repr__"}
        assert public <= set(dir(compiled)), public - set(dir(compiled))


def test_env_switch_selects_the_twin():
    code = "import pcp; print(pcp.EXTENSIONS, pcp.RingBuffer.__module__)"
    env = dict(os.environ, PCP_NO_EXTENSIONS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "pcp._buffer_py"]


def test_proxy_classes_are_built_on_the_selected_core():
    from pcp import _select

    assert issubclass(pcp.BasicProducerConsumerProxy, _select.core.BasicCore)
    assert issubclass(pcp.ProducerConsumerProxy, _select.core.BufferedCore)
    assert issubclass(pcp.ProducerConsumerProxy, pcp.BasicProducerConsumerProxy)
    assert pcp.ProducerConsumerProxy.__module__ == "pcp"
