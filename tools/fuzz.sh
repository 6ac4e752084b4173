#!/usr/bin/env bash
# Fuzz pcp's storage and proxies with atheris, with ASan and libFuzzer coverage in the C code.
#
#   tools/fuzz.sh [seconds] [target] [extra libFuzzer flags...]
#
# seconds: default 600. target: ring (default; RingBuffer, fuzz/fuzz_ring.py),
# queue (ByteQueue, the proxies' storage, fuzz/fuzz_queue.py) or proxy (the
# proxies, compiled against twin, fuzz/fuzz_proxy.py).
#
# Needs clang (Debian: apt-get install clang). Builds, once, into $PCP_FUZZ_DIR
# (default /tmp/pcp-fuzz): a venv with atheris compiled from source against
# clang's libFuzzer (for asan_with_fuzzer.so); and, on every run, a debug copy
# of pcp compiled with -fsanitize=address,fuzzer-no-link (PCP_FUZZ_NO_BUILD=1
# reuses the last one, e.g. for a second target running at the same time).
# The checkout itself is not touched. New inputs go to
# $PCP_FUZZ_DIR/corpus-<target> (the target's corpus in fuzz/ seeds it); a
# crash writes $PCP_FUZZ_DIR/artifacts-<target>/crash-*: copy it into the
# target's regressions directory (fuzz/regressions for the ring,
# fuzz/regressions_queue, fuzz/regressions_proxy), where
# tests/test_fuzz_regressions.py replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${1:-600}
shift || true
target=ring
if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
  target=$1
  shift
fi
case $target in
  ring) seeds=$root/fuzz/corpus ;;
  queue|proxy) seeds=$root/fuzz/corpus_$target ;;
  *) echo "unknown target $target (ring, queue or proxy)" >&2; exit 2 ;;
esac
work=${PCP_FUZZ_DIR:-/tmp/pcp-fuzz}
venv=$work/venv
python=${PYTHON:-python3}

command -v clang >/dev/null || { echo "clang not found (Debian: apt-get install clang)" >&2; exit 2; }
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
  CLANG_BIN=$(command -v clang) CC=clang CXX=clang++ \
    "$venv/bin/pip" install -q --no-binary atheris atheris
fi
mkdir -p "$work/corpus-$target" "$work/artifacts-$target" "$work/run"
if [ "${PCP_FUZZ_NO_BUILD:-}" != 1 ]; then
  rm -rf "$work/src"
  mkdir -p "$work/src"
  git ls-files -z -- pcp setup.py pyproject.toml README.md | xargs -0 cp --parents -t "$work/src"
  touch "$work/src/README.md"
  (cd "$work/src" && PCP_DEBUG=1 CC=clang LDSHARED="clang -shared" \
    CFLAGS="-fsanitize=address,fuzzer-no-link" LDFLAGS="-fsanitize=address,fuzzer-no-link" \
    "$venv/bin/pip" install -q --force-reinstall --no-deps .)
fi

asan=$("$venv/bin/python" -c "import atheris; print(atheris.path())")/asan_with_fuzzer.so
# An empty working directory: nothing there shadows the installed pcp.
cd "$work/run"
LD_PRELOAD=$asan ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 PYTHONMALLOC=malloc \
  "$venv/bin/python" - <<'PY'
import pcp, pcp._buffer, pcp._queue, pcp._core_c
for m in (pcp._buffer, pcp._queue, pcp._core_c):
    assert pcp.EXTENSIONS and "site-packages" in m.__file__, m.__file__
PY
LD_PRELOAD=$asan ASAN_OPTIONS=detect_leaks=0 PYTHONMALLOC=malloc \
  "$venv/bin/python" "$root/fuzz/fuzz_$target.py" "$work/corpus-$target" "$seeds" \
  -max_total_time="$seconds" -rss_limit_mb=4096 -artifact_prefix="$work/artifacts-$target/" \
  -print_final_stats=1 "$@"
