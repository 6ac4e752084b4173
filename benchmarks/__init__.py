"""pcp's benchmark suite (pytest-benchmark) and its release gate: ``python -m benchmarks.gate``.

Not installed with pcp: run from a clone. The workloads themselves live in
``pcp.bench``, which ``python -m pcp.bench`` also runs.
"""
