"""Shared fixtures: every test of the buffer and the proxies runs against both
implementations, the compiled extension and its pure-Python twin.

When PCP_NO_EXTENSIONS is set, only the twin is tested: the tests of the compiled
variant (``impl`` or a ``kind`` parameter = "compiled", the ``both`` fixture,
``@pytest.mark.compiled_only``)
are deselected at collection, reported as deselected, not skipped, so that the run's
skips are only the real ones. Otherwise the compiled variant imports the extension
modules directly, so a missing or broken build fails the run instead of silently
testing the twin.
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


def _needs_compiled(item):
    """True for a collected test that exercises the compiled extension."""
    callspec = getattr(item, "callspec", None)
    params = callspec.params if callspec is not None else {}
    # "impl" (the fixture) or "kind" (a test's own parameter, as for load(kind)).
    kind = params.get("impl", params.get("kind"))
    return (
        kind == "compiled"
        or "both" in getattr(item, "fixturenames", ())
        or (kind is None and item.get_closest_marker("compiled_only") is not None)
    )


def _twin_variant_of_compiled_only(item):
    """True for the twin variant of a test marked compiled_only (it has nothing to check there)."""
    callspec = getattr(item, "callspec", None)
    return (
        callspec is not None
        and callspec.params.get("impl") == "twin"
        and item.get_closest_marker("compiled_only") is not None
    )


def pytest_collection_modifyitems(config, items):
    """Deselect what cannot run here instead of skipping it (a skip would hide real ones).

    Under PCP_NO_EXTENSIONS every test of the compiled extension; always, the twin
    variant of a test marked ``compiled_only``.
    """
    keep, drop = [], []
    for item in items:
        if _twin_variant_of_compiled_only(item) or (NO_EXTENSIONS and _needs_compiled(item)):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
