"""Installing pcp: without a compiler, with the extension required, from a
checkout whose extension is not built, and the metadata a release carries.

The build test runs pip on a copy of the source (never on the checkout, so
it does not disturb an editable install) with ``CC=/bin/false``: the
compile fails as it does on a machine without a compiler.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pcp

ROOT = Path(__file__).resolve().parent.parent
SOURCE_FILES = ("setup.py", "pyproject.toml", "MANIFEST.in", "README.md", "LICENSE")
# Import pcp and report what it selected and every warning it gave, one per line.
PROBE = (
    "import warnings\n"
    "with warnings.catch_warnings(record=True) as caught:\n"
    "    warnings.simplefilter('always')\n"
    "    import pcp\n"
    "print('EXTENSIONS', pcp.EXTENSIONS)\n"
    "print('FILE', pcp.__file__)\n"
    "for w in caught:\n"
    "    print('WARNING', w.category.__name__, w.message)\n"
)


def _copy_source(dest: Path, with_setup: bool = True) -> Path:
    """A copy of the package (and, with *with_setup*, what builds it), without built files."""
    dest.mkdir(parents=True, exist_ok=True)
    if with_setup:
        for name in SOURCE_FILES:
            shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(
        ROOT / "pcp",
        dest / "pcp",
        ignore=shutil.ignore_patterns("*.so", "*.pyd", "*.c", "*.html", "__pycache__", "_build_failure.txt"),
    )
    return dest


def _probe(cwd: Path, **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if k not in ("PCP_NO_EXTENSIONS", "PYTHONPATH")}
    environ.update(env)
    # -S: no site-packages, so an editable install of pcp (its import hook
    # maps pcp's submodules to its own checkout) cannot answer for *cwd*.
    out = subprocess.run(
        [sys.executable, "-S", "-c", PROBE], cwd=cwd, env=environ, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    return {
        "extensions": lines[0].split()[1] == "True",
        "file": lines[1].split(None, 1)[1],
        "warnings": [line.split(None, 1)[1] for line in lines[2:]],
    }


def _pip(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PCP_")}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_version_is_written_once():
    from pcp import _version

    assert pcp.__version__ == _version.__version__
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert "pcp._version.__version__" in pyproject
    # No second copy of the number anywhere in the package or the build files.
    copies = [
        str(path.relative_to(ROOT))
        for path in [ROOT / "pyproject.toml", ROOT / "setup.py", *sorted((ROOT / "pcp").rglob("*.py"))]
        if path.name != "_version.py" and f'"{pcp.__version__}"' in path.read_text(encoding="utf-8")
    ]
    assert copies == []


def test_checkout_without_built_extension_warns_once_and_says_why(tmp_path):
    checkout = _copy_source(tmp_path / "checkout")
    seen = _probe(checkout)
    assert seen["file"] == str(checkout / "pcp" / "__init__.py")
    assert seen["extensions"] is False
    [message] = seen["warnings"]
    assert message.startswith("TwinSelectedWarning pcp: using the pure-Python twin")
    assert f"source checkout {checkout}" in message
    assert "pip install -e ." in message


def test_twin_chosen_on_purpose_does_not_warn(tmp_path):
    checkout = _copy_source(tmp_path / "checkout")
    seen = _probe(checkout, PCP_NO_EXTENSIONS="1")
    assert (seen["extensions"], seen["warnings"]) == (False, [])


def test_installed_copy_without_extension_says_the_import_error(tmp_path):
    # Not a checkout (no setup.py beside the package) and no build note.
    site = _copy_source(tmp_path / "site", with_setup=False)
    seen = _probe(site)
    [message] = seen["warnings"]
    reason = message.split("the compiled extension could not be imported (", 1)[1]
    assert "_buffer" in reason.split(")")[0], message  # the ImportError names the missing module


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="CC=/bin/false is a POSIX compiler stand-in")
def test_install_without_a_compiler_gives_the_twin_and_required_extensions_fail(tmp_path):
    src = _copy_source(tmp_path / "src")

    # No compiler: the install succeeds, says why in the build output, and
    # the installed pcp selects the twin and says why at import.
    target = tmp_path / "site"
    out = _pip("install", "-v", "--no-deps", "--target", str(target), str(src), CC="/bin/false")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "WARNING: pcp: the compiled extension was not built: the C compiler failed" in out.stdout + out.stderr
    installed = sorted(p.name for p in (target / "pcp").iterdir())
    assert not [name for name in installed if name.endswith((".so", ".pyd", ".c"))], installed
    seen = _probe(target)
    assert seen["file"] == str(target / "pcp" / "__init__.py")
    assert seen["extensions"] is False
    [message] = seen["warnings"]
    assert "pcp was installed without its compiled extension (the C compiler failed" in message

    # CI's switch: the same failed compile fails the install, loudly.
    wheels = tmp_path / "wheels"
    out = _pip("wheel", "--no-deps", "-w", str(wheels), str(src), CC="/bin/false", PCP_REQUIRE_EXTENSIONS="1")
    assert out.returncode != 0
    assert "PCP_REQUIRE_EXTENSIONS is set, so the build fails" in out.stdout + out.stderr
    assert not wheels.exists() or not list(wheels.glob("*.whl"))


def test_license_and_changelog_are_in_place():
    license_text = (ROOT / "LICENSE").read_text()
    assert license_text.startswith("MIT License")
    assert "The pcp developers" in license_text
    changelog = (ROOT / "CHANGELOG.md").read_text()
    # Keep a Changelog: the work since the last release under "Unreleased",
    # renamed to the version (pcp/_version.py) when it is released.
    headings = [line for line in changelog.splitlines() if line.startswith("## [")]
    assert headings, "no release headings"
    assert headings[0] == "## [Unreleased]" or headings[0].startswith(f"## [{pcp.__version__}] - "), headings[0]


def test_twin_run_deselects_compiled_tests_instead_of_skipping_them(tmp_path):
    # Hundreds of "compiled extension not tested" skips would hide the real ones.
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env["PCP_NO_EXTENSIONS"] = "1"
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'inner'}",
         "tests/test_ring.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:]
    summary = out.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed, \d+ deselected", summary), summary
    assert "skipped" not in summary, summary
