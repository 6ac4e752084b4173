"""Which implementation `import pcp` selected, and that it is the one we think."""

import os
import subprocess
import sys

import pcp
from pcp import _buffer_py, _core_py

from conftest import NO_EXTENSIONS


def test_selected_implementation_is_the_expected_one():
    # A silent fallback to the twin would make every "compiled" result a lie.
    if NO_EXTENSIONS:
        assert pcp.EXTENSIONS is False
        assert pcp.RingBuffer is _buffer_py.RingBuffer
        assert pcp.ProxyCore is _core_py.ProxyCore
    else:
        from pcp import _buffer, _core

        assert pcp.EXTENSIONS is True
        assert pcp.RingBuffer is _buffer.RingBuffer
        assert pcp.ProxyCore is _core.ProxyCore
        assert _buffer.__file__.endswith((".so", ".pyd"))
        assert _core.__file__.endswith((".so", ".pyd"))


def test_env_switch_selects_the_twin():
    code = "import pcp; print(pcp.EXTENSIONS, pcp.RingBuffer.__module__)"
    env = dict(os.environ, PCP_NO_EXTENSIONS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "pcp._buffer_py"]


def test_proxy_classes_are_built_on_the_selected_core():
    assert issubclass(pcp.BasicProducerConsumerProxy, pcp.ProxyCore)
    assert issubclass(pcp.ProducerConsumerProxy, pcp.BasicProducerConsumerProxy)
    assert pcp.ProducerConsumerProxy.__module__ == "pcp"
