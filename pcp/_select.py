"""Which implementation pcp uses, selected once, here.

The compiled extension modules by default; the pure-Python twin when
``PCP_NO_EXTENSIONS`` is set to a non-empty value, outside CPython, or when the
extension modules are missing (with a warning that says why). ``core`` is the
module with the proxies' behaviour (``pcp._core_c``, compiled from
``pcp/_core.py``, or ``pcp._core`` itself), ``buffer`` the one with RingBuffer.
"""

import os
import sys
from types import ModuleType

__all__ = ["EXTENSIONS", "buffer", "core"]

EXTENSIONS = False
buffer: ModuleType
core: ModuleType
if not os.environ.get("PCP_NO_EXTENSIONS") and sys.implementation.name == "cpython":
    try:
        from pcp import _buffer as buffer
        from pcp import _core_c as core

        EXTENSIONS = True
    except ImportError as _exc:
        from pcp._fallback import warn_twin_selected

        warn_twin_selected(_exc)  # says once why the slower twin was selected
if not EXTENSIONS:
    from pcp import _buffer_py as buffer
    from pcp import _core as core
