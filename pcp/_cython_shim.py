"""Stands in for ``cython`` where Cython is not installed: the code runs as plain Python."""

compiled = False
