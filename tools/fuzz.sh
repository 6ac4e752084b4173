#!/usr/bin/env bash
# Fuzz pcp's RingBuffer with atheris, with ASan and libFuzzer coverage in the C code.
#
#   tools/fuzz.sh [seconds] [extra libFuzzer flags...]      (default: 600 seconds)
#
# Needs clang (Debian: apt-get install clang). Builds, once, into $PCP_FUZZ_DIR
# (default /tmp/pcp-fuzz): a venv with atheris compiled from source against
# clang's libFuzzer (for asan_with_fuzzer.so) and a debug copy of pcp compiled
# with -fsanitize=address,fuzzer-no-link. The checkout itself is not touched.
# New inputs go to $PCP_FUZZ_DIR/corpus (fuzz/corpus seeds it); a crash
# writes $PCP_FUZZ_DIR/artifacts/crash-*: copy it into fuzz/regressions/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${1:-600}
shift || true
work=${PCP_FUZZ_DIR:-/tmp/pcp-fuzz}
venv=$work/venv
python=${PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
  CLANG_BIN=$(command -v clang) CC=clang CXX=clang++ \
    "$venv/bin/pip" install -q --no-binary atheris atheris
fi
rm -rf "$work/src"
mkdir -p "$work/src" "$work/corpus" "$work/artifacts" "$work/run"
git ls-files -z -- pcp setup.py pyproject.toml README.md | xargs -0 cp --parents -t "$work/src"
touch "$work/src/README.md"
(cd "$work/src" && PCP_DEBUG=1 CC=clang LDSHARED="clang -shared" \
  CFLAGS="-fsanitize=address,fuzzer-no-link" LDFLAGS="-fsanitize=address,fuzzer-no-link" \
  "$venv/bin/pip" install -q --force-reinstall --no-deps .)

asan=$("$venv/bin/python" -c "import atheris; print(atheris.path())")/asan_with_fuzzer.so
# An empty working directory: nothing there shadows the installed pcp.
cd "$work/run"
LD_PRELOAD=$asan ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 PYTHONMALLOC=malloc \
  "$venv/bin/python" - <<'PY'
import pcp, pcp._buffer
assert pcp.EXTENSIONS and "site-packages" in pcp._buffer.__file__, pcp._buffer.__file__
PY
LD_PRELOAD=$asan ASAN_OPTIONS=detect_leaks=0 PYTHONMALLOC=malloc \
  "$venv/bin/python" "$root/fuzz/fuzz_ring.py" "$work/corpus" "$root/fuzz/corpus" \
  -max_total_time="$seconds" -rss_limit_mb=4096 -artifact_prefix="$work/artifacts/" \
  -print_final_stats=1 "$@"
