"""Shared fixtures: every test of the buffer and the proxies runs against both
implementations, the compiled extension and its pure-Python twin.

When PCP_NO_EXTENSIONS is set, only the twin is tested (the compiled variant is
skipped); otherwise the compiled variant imports the extension modules directly,
so a missing or broken build fails the run instead of silently testing the twin.
"""

import os
import types

import pytest

import pcp
from pcp._proxy import proxy_classes

NO_EXTENSIONS = bool(os.environ.get("PCP_NO_EXTENSIONS"))


def _namespace(kind):
    if kind == "compiled":
        if NO_EXTENSIONS:
            pytest.skip("PCP_NO_EXTENSIONS is set: the compiled extension is not tested")
        from pcp import _buffer as buffer_mod
        from pcp import _core as core_mod
    else:
        from pcp import _buffer_py as buffer_mod
        from pcp import _core_py as core_mod
    if core_mod.ProxyCore is pcp.ProxyCore:
        basic, buffered = pcp.BasicProducerConsumerProxy, pcp.ProducerConsumerProxy
    else:
        basic, buffered = proxy_classes(core_mod.ProxyCore)
    return types.SimpleNamespace(
        kind=kind,
        RingBuffer=buffer_mod.RingBuffer,
        ProxyCore=core_mod.ProxyCore,
        BasicProducerConsumerProxy=basic,
        ProducerConsumerProxy=buffered,
    )


@pytest.fixture(params=["compiled", "twin"])
def impl(request):
    """A namespace with RingBuffer, ProxyCore and both proxy classes of one implementation."""
    return _namespace(request.param)


@pytest.fixture
def both():
    """The compiled and the twin namespaces together, for differential tests."""
    if NO_EXTENSIONS:
        pytest.skip("PCP_NO_EXTENSIONS is set: no compiled extension to compare")
    return _namespace("compiled"), _namespace("twin")
