"""pytest plumbing for the release gate's workloads (``test_workloads.py``).

Adds two options and nothing autouse, so plain pytest-benchmark files beside
it run as they would alone:

``--pcp-quick``
    the quick form of the gate (N up to 1e5, fewer rounds), for CI;
``--pcp-results FILE``
    write every measured round to FILE, which ``python -m benchmarks.gate``
    reads. Without it the ratio table is printed at the end of the run.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List

import pytest

from benchmarks import gate
from pcp import bench

_RESULTS = pytest.StashKey[List[Dict[str, Any]]]()
_ALTERNATIVES = pytest.StashKey[Dict[str, bench.Alternative]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pcp", "pcp release gate")
    group.addoption("--pcp-quick", action="store_true", default=False,
                    help="quick form of the gate's workloads: N up to 1e5, fewer rounds (CI)")
    group.addoption("--pcp-results", metavar="FILE", default=None,
                    help="write the measured rounds to FILE (read by python -m benchmarks.gate)")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RESULTS] = []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "pcp_case" not in metafunc.fixturenames:
        return
    mode = "quick" if metafunc.config.getoption("pcp_quick") else "full"
    params = [(case, alt) for case in bench.cases(mode) for alt in case.alternatives]
    metafunc.parametrize(
        ("pcp_case", "pcp_alt"),
        params,
        ids=[f"{case.workload}-{case.label}-{alt}" for case, alt in params],
    )


@pytest.fixture(scope="session")
def pcp_alternatives(pytestconfig: pytest.Config) -> Dict[str, bench.Alternative]:
    """The implementations under test (pcp compiled, twin, reference, Twisted) and the physical references."""
    if _ALTERNATIVES not in pytestconfig.stash:
        alts = bench.load_alternatives()
        alts["direct"] = bench.Alternative("direct")
        alts["memmove"] = bench.Alternative("memmove")
        pytestconfig.stash[_ALTERNATIVES] = alts
    return pytestconfig.stash[_ALTERNATIVES]


@pytest.fixture(scope="session")
def pcp_settings(pytestconfig: pytest.Config) -> gate.Settings:
    """How many rounds: the quick or the full form."""
    return gate.Settings.quick() if pytestconfig.getoption("pcp_quick") else gate.Settings.full()


@pytest.fixture(scope="session")
def pcp_results(pytestconfig: pytest.Config) -> List[Dict[str, Any]]:
    """Where each test records its rounds (and the compiled rounds interleaved with them)."""
    return pytestconfig.stash[_RESULTS]


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    path = config.getoption("pcp_results", None)
    if path and _RESULTS in config.stash:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(gate.results_document(config.stash[_RESULTS], config.stash.get(_ALTERNATIVES, {}),
                                            quick=config.getoption("pcp_quick")), fh, indent=1)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if config.getoption("pcp_results", None) or not config.stash.get(_RESULTS, None):
        return
    document = gate.results_document(config.stash[_RESULTS], config.stash.get(_ALTERNATIVES, {}),
                                     quick=config.getoption("pcp_quick"))
    report = gate.evaluate(document, gate.load_thresholds(), gate.load_baseline())
    terminalreporter.write_sep("=", "pcp ratios (python -m benchmarks.gate gates on these)")
    for line in gate.format_report(document, report, gate=False).splitlines():
        terminalreporter.write_line(line)
