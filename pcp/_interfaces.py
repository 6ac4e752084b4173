"""Twisted's interface declarations for pcp's proxies, made without importing Twisted.

``import pcp`` must stay light: importing ``twisted.internet.interfaces``
pulls in much of Twisted (100 ms and more), and asyncio users have no use for
it. So the proxies declare ``IConsumer`` and ``IPushProducer`` at once only
when ``twisted.internet.interfaces`` has already been imported; otherwise a
small finder on ``sys.meta_path`` waits for that one module, lets its own
loader run it, declares the interfaces on every class it was given, and
removes itself. Either way a Twisted application, which has imported Twisted
before asking, finds ``IConsumer.providedBy(proxy)`` true, whichever of pcp
and Twisted was imported first.

zope.interface and Twisted stay optional: without them nothing is declared and
the finder never fires.
"""

from __future__ import annotations

import sys
from typing import Any, List, Optional, Sequence

__all__ = ["declare_interfaces"]

_MODULE = "twisted.internet.interfaces"

# Classes waiting for Twisted; declared and cleared when its interfaces module runs.
_pending: List[type] = []


def declare_interfaces(*classes: Any) -> None:
    """Declare IConsumer and IPushProducer (an IProducer) on each proxy class.

    At once when ``twisted.internet.interfaces`` is imported already, else as
    soon as it is; never importing Twisted or zope.interface itself.
    """
    module = sys.modules.get(_MODULE)
    if module is not None and hasattr(module, "IPushProducer"):
        _declare(classes)
        return
    _pending.extend(classes)
    if not any(isinstance(finder, _TwistedInterfacesFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _TwistedInterfacesFinder())


def _declare(classes: Sequence[type]) -> None:
    try:
        from twisted.internet.interfaces import IConsumer, IPushProducer
        from zope.interface import classImplements  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        return
    for cls in classes:
        classImplements(cls, IConsumer, IPushProducer)


def _declare_pending() -> None:
    classes = list(_pending)
    del _pending[:]
    _declare(classes)


def _remove_finder() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _TwistedInterfacesFinder)]


class _TwistedInterfacesFinder:
    """A meta path finder for ``twisted.internet.interfaces`` only.

    It finds nothing itself: it asks the finders after it for the module's
    spec and wraps the spec's loader, so that the pending declarations are
    made right after the module has run. Every other import is passed over
    with one string comparison.
    """

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        """The real spec of ``twisted.internet.interfaces``, its loader wrapped; else None."""
        if name != _MODULE:
            return None
        found = False
        for finder in list(sys.meta_path):
            if finder is self:
                found = True
                continue
            if not found or isinstance(finder, _TwistedInterfacesFinder):
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _DeclaringLoader(spec.loader)
                return spec
        return None

    def invalidate_caches(self) -> None:
        """Nothing cached."""


class _DeclaringLoader:
    """Runs the real loader, then declares the pending interfaces and steps aside."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> Optional[Any]:
        """The real loader's module (usually None: the default module)."""
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: Any) -> None:
        """Run the module with its real loader; then declare, restore the loader, remove the finder."""
        self._loader.exec_module(module)
        module.__loader__ = self._loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self._loader
        _remove_finder()
        _declare_pending()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)
