"""Shared fixtures: every test of the buffer and the proxies runs against both
implementations, the compiled extension and its pure-Python twin.

When PCP_NO_EXTENSIONS is set, only the twin is tested (the compiled variant is
skipped); otherwise the compiled variant imports the extension modules directly,
so a missing or broken build fails the run instead of silently testing the twin.
"""

import os

import pytest

import pcp
from pcp._implementations import load

NO_EXTENSIONS = bool(os.environ.get("PCP_NO_EXTENSIONS"))


def _namespace(kind):
    if kind == "compiled" and NO_EXTENSIONS:
        pytest.skip("PCP_NO_EXTENSIONS is set: the compiled extension is not tested")
    return load(kind)


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
