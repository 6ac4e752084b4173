"""The version of pcp (the ``pcp-buffer`` distribution), written in this one place.

``pyproject.toml`` reads it (``[tool.setuptools.dynamic]``) and ``pcp.__version__``
re-exports it; bump it here for a release.
"""

__version__ = "0.1.0"
