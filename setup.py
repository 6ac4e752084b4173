"""Build script: cythonizes pcp's extension modules.

Set PCP_DEBUG=1 at build time for an -O0 -g build with Cython and C
assertions enabled (for valgrind / AddressSanitizer runs).
"""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = bool(os.environ.get("PCP_DEBUG"))

if DEBUG:
    extra_compile_args = ["-O0", "-g3", "-UNDEBUG"]
    macros = []
else:
    extra_compile_args = ["-O2"]
    # Cython's assert statements guard internal invariants; release builds
    # drop them like C's NDEBUG does.
    macros = [("NDEBUG", "1"), ("CYTHON_WITHOUT_ASSERTIONS", "1")]

extensions = [
    Extension(
        f"pcp.{name}",
        [f"pcp/{name}.pyx"],
        extra_compile_args=extra_compile_args,
        define_macros=macros,
    )
    for name in ("_buffer", "_core")
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "embedsignature": True,
            # Plain method descriptors: CPython calls them without the CyFunction layer.
            "binding": False,
        },
    )
)
