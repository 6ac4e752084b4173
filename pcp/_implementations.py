"""Both implementations by name, for tests and benchmarks.

``load("compiled")`` imports the compiled extension modules directly (an
ImportError when they are not built); ``load("twin")`` the pure-Python twin.
Each gives a namespace with ``RingBuffer``, ``BasicProducerConsumerProxy`` and
``ProducerConsumerProxy`` (and ``core``, the module with the proxies' behaviour); ``pcp`` exports the one it selected.
"""

from __future__ import annotations

import types
from typing import Dict

__all__ = ["KINDS", "load"]

KINDS = ("compiled", "twin")

_cache: Dict[str, types.SimpleNamespace] = {}


def load(kind: str) -> types.SimpleNamespace:
    """The classes of one implementation: *kind* is ``"compiled"`` or ``"twin"``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    if kind not in _cache:
        from pcp._proxy import classes_over

        if kind == "compiled":
            from pcp import _buffer as buffer_mod
            from pcp import _core_c as core_mod
        else:
            from pcp import _buffer_py as buffer_mod  # type: ignore[no-redef]
            from pcp import _core as core_mod  # type: ignore[no-redef]
        basic, buffered = classes_over(core_mod)
        _cache[kind] = types.SimpleNamespace(
            kind=kind,
            core=core_mod,
            RingBuffer=buffer_mod.RingBuffer,
            BasicProducerConsumerProxy=basic,
            ProducerConsumerProxy=buffered,
        )
    return _cache[kind]
