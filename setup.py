"""Build script: compiles pcp's optional extension modules with Cython.

The extensions are optional: when Cython or a C compiler is missing, or the
compile fails, pcp installs without them and ``import pcp`` selects the
pure-Python twin (with a warning). Environment switches, read at build time:

- ``PCP_REQUIRE_EXTENSIONS=1``: a failed or skipped compile fails the build
  (CI and release builds set it).
- ``PCP_NO_EXTENSIONS=1``: do not build the extensions at all.
- ``PCP_DEBUG=1``: an ``-O0 -g3`` build with Cython's and C's assertions on
  (for valgrind and AddressSanitizer runs). Release builds are ``-O2``
  without debug information (``-g0``, and linked with ``-s`` on Linux).
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, ExecError, PlatformError

# The compiled modules: (import name, source). A source is a ``.pyx`` file or
# a ``.py`` file compiled in Cython's pure-Python mode (with an augmenting
# ``.pxd`` named after the module beside it).
EXTENSION_MODULES = [
    ("pcp._buffer", "pcp/_buffer.pyx"),
    ("pcp._queue", "pcp/_queue.pyx"),
    ("pcp._core_c", "pcp/_core.py"),
]

CYTHON_DIRECTIVES = {
    "language_level": 3,
    "embedsignature": True,
    # Plain method descriptors: CPython calls them without the CyFunction layer.
    "binding": False,
    # pcp/_core.py keeps a branch for the pure-Python run that the compiled one skips.
    "warn.unreachable": False,
}

# Written into the built package when the extensions were not built, so that
# ``import pcp`` can say why it selected the twin.
FAILURE_NOTE = "pcp/_build_failure.txt"


def _flag(name):
    return bool(os.environ.get(name))


DEBUG = _flag("PCP_DEBUG")
REQUIRE = _flag("PCP_REQUIRE_EXTENSIONS")
SKIP = _flag("PCP_NO_EXTENSIONS")

# Errors that mean "this machine cannot compile the extension": no compiler,
# a compiler that fails, no Python headers, no MSVC on Windows.
BUILD_ERRORS = (CCompilerError, ExecError, PlatformError, OSError)


class ExtensionsNotBuilt(Exception):
    """Raised when PCP_REQUIRE_EXTENSIONS is set and the extensions could not be built."""


def _compile_flags(compiler_type):
    """(compile args, link args, macros) for a compiler family and build mode."""
    if compiler_type == "msvc":
        if DEBUG:
            return ["/Od", "/Zi"], ["/DEBUG"], []
        return ["/O2"], [], [("NDEBUG", "1"), ("CYTHON_WITHOUT_ASSERTIONS", "1")]
    if DEBUG:
        return ["-O0", "-g3", "-UNDEBUG"], [], []
    # -g0 after the interpreter's own CFLAGS (which often carry -g) drops the
    # debug information; -s strips the symbol table as well (GNU ld only).
    link = ["-s"] if sys.platform.startswith("linux") else []
    # Cython's assert statements guard internal invariants; release builds drop
    # them like C's NDEBUG does.
    return ["-O2", "-g0"], link, [("NDEBUG", "1"), ("CYTHON_WITHOUT_ASSERTIONS", "1")]


class OptionalBuildExt(build_ext):
    """Cythonize and compile the extensions; without them, install the twin.

    A failure is a warning unless PCP_REQUIRE_EXTENSIONS is set, and then
    it fails the build with the reason.
    """

    def run(self):
        stale = os.path.join(self.build_lib, FAILURE_NOTE)
        if os.path.exists(stale):  # left by an earlier failed build in build/
            os.remove(stale)
        if SKIP:
            self._give_up("PCP_NO_EXTENSIONS was set at build time")
            return
        if sys.implementation.name != "cpython":
            self._give_up(f"the extensions are CPython-only (this is {sys.implementation.name})")
            return
        try:
            from Cython.Build import cythonize
        except ImportError as exc:
            self._give_up(f"Cython is not installed ({exc})")
            return
        try:
            generated = cythonize(
                [Extension(ext.name, ext.sources) for ext in self.extensions],
                compiler_directives=CYTHON_DIRECTIVES,
                quiet=True,
            )
        except Exception as exc:  # Cython reports its compile errors as plain exceptions
            self._give_up(f"Cython failed: {exc}")
            return
        # Point the finalized extensions at the generated C files (setuptools
        # has annotated these objects; cythonize's copies lack that).
        c_sources = {ext.name: ext.sources for ext in generated}
        for ext in self.extensions:
            ext.sources = c_sources[ext.name]
        try:
            super().run()
        except BUILD_ERRORS as exc:
            self._remove_partial_outputs()
            self._give_up(f"the C compiler failed: {exc}")

    def build_extensions(self):
        compile_args, link_args, macros = _compile_flags(self.compiler.compiler_type)
        for ext in self.extensions:
            ext.extra_compile_args = list(compile_args)
            ext.extra_link_args = list(link_args)
            ext.define_macros = list(ext.define_macros or []) + macros
        super().build_extensions()

    def _remove_partial_outputs(self):
        # One module built and one not would mix two implementations' files:
        # install neither.
        for path in self.get_outputs():
            if os.path.exists(path):
                os.remove(path)

    def _give_up(self, reason):
        reason = reason.rstrip(". ")
        message = (
            f"pcp: the compiled extension was not built: {reason}. "
            "pcp is installed with its pure-Python twin only (same behaviour, "
            "several times slower); install a C compiler and the Python headers "
            "and reinstall for the compiled extension."
        )
        if REQUIRE:
            raise ExtensionsNotBuilt(
                f"{message} PCP_REQUIRE_EXTENSIONS is set, so the build fails."
            )
        bar = "*" * 78
        sys.stderr.write(f"\n{bar}\nWARNING: {message}\n{bar}\n\n")
        if not self.inplace:
            note = os.path.join(self.build_lib, FAILURE_NOTE)
            os.makedirs(os.path.dirname(note), exist_ok=True)
            with open(note, "w", encoding="utf-8") as f:
                f.write(reason + "\n")

    def get_outputs(self):
        outputs = super().get_outputs()
        note = os.path.join(self.build_lib, FAILURE_NOTE)
        if not self.inplace and os.path.exists(note):
            outputs.append(note)
        return outputs


setup(
    ext_modules=[Extension(name, [source]) for name, source in EXTENSION_MODULES],
    cmdclass={"build_ext": OptionalBuildExt},
)
