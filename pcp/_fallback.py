"""Why ``import pcp`` fell back to the pure-Python twin, said once as a warning.

``pcp/__init__.py`` calls :func:`warn_twin_selected` when it wanted the
compiled extension (CPython, ``PCP_NO_EXTENSIONS`` not set) and could not
import it. The message names the cause where it can tell:

- the package was installed without the extension (``setup.py`` leaves
  ``_build_failure.txt`` with the reason in the built package);
- pcp is imported from a source checkout whose extension is not built (a
  non-editable install puts the compiled modules elsewhere, but Python finds
  the checkout first when run from it);
- otherwise, the ImportError itself.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

__all__ = ["TwinSelectedWarning", "fallback_reason", "warn_twin_selected"]

_PACKAGE = Path(__file__).resolve().parent


class TwinSelectedWarning(RuntimeWarning):
    """``import pcp`` selected the slower pure-Python twin although the compiled
    extension was wanted (set ``PCP_NO_EXTENSIONS=1`` to choose the twin on purpose)."""


def _source_checkout() -> Optional[Path]:
    """The checkout pcp is imported from, or None for an installed copy."""
    root = _PACKAGE.parent
    if (root / "setup.py").is_file() and (root / "pyproject.toml").is_file():
        return root
    return None


def fallback_reason(error: BaseException) -> str:
    """Why the compiled extension could not be imported, in words for a user."""
    note = _PACKAGE / "_build_failure.txt"
    if note.is_file():
        built = note.read_text(encoding="utf-8").strip()
        return (
            f"pcp was installed without its compiled extension ({built}); install a "
            "C compiler and the Python headers, then reinstall pcp-buffer"
        )
    checkout = _source_checkout()
    if checkout is not None:
        return (
            f"pcp is imported from the source checkout {checkout}, where the extension "
            f"is not built ({error}); build it there with `python -m pip install -e .`, "
            "or run from outside the checkout to use the installed copy"
        )
    return f"the compiled extension could not be imported ({error})"


def warn_twin_selected(error: BaseException) -> None:
    """Warn that pcp fell back to the twin, and why (*error*: the ImportError)."""
    warnings.warn(
        "pcp: using the pure-Python twin, several times slower than the compiled "
        f"extension: {fallback_reason(error)}. Set PCP_NO_EXTENSIONS=1 to select the "
        "twin on purpose and silence this warning.",
        TwinSelectedWarning,
        stacklevel=2,
    )
