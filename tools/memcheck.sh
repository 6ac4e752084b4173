#!/usr/bin/env bash
# Run the ring, queue and proxy tests under valgrind memcheck, against a debug build of pcp.
#
#   tools/memcheck.sh [pytest arguments...]
#
# Builds, outside the checkout, a copy of pcp with PCP_DEBUG=1 (-O0 -g3,
# Cython and C assertions on) into its own venv under $PCP_MEMCHECK_DIR
# (default /tmp/pcp-memcheck), then runs the tests of the compiled extension
# (-k "not twin") under valgrind with PYTHONMALLOC=malloc, so every Python
# object allocation is checked too. Needs valgrind (Debian: apt-get install
# valgrind). Takes 10-20 minutes; the stateful tests run fewer examples
# (PCP_STATEFUL_EXAMPLES, default here 10). PCP_MEMCHECK_CHILDREN=1 checks the
# Python subprocesses the tests start too (valgrind --trace-children=yes), e.g.
# the out-of-memory sweeps of tests/oom_driver.py:
#   PCP_MEMCHECK_CHILDREN=1 tools/memcheck.sh tests/test_out_of_memory.py -k every_single
#
# Prints valgrind's error summary and the errors whose stacks go through
# pcp's code (the C files Cython generates, pcp/_buffer.c, pcp/_queue.c and
# pcp/_core.c (from pcp/_core.py), the sources they came from, pcp/_block.h,
# and the modules pcp._buffer, pcp._queue, pcp._core_c); exits non-zero
# if there is any such error, any leak of memory allocated by pcp's code,
# or a failing test.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=${PCP_MEMCHECK_DIR:-/tmp/pcp-memcheck}
python=${PYTHON:-python3}
venv=$work/venv

command -v valgrind >/dev/null || { echo "valgrind not found" >&2; exit 2; }
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"

# The package: a debug build from a copy of the checkout (never built in place).
rm -rf "$work/src" "$work/run"
mkdir -p "$work/src" "$work/run"
git ls-files -z -- pcp setup.py pyproject.toml README.md | xargs -0 cp --parents -t "$work/src"
touch "$work/src/README.md"
(cd "$work/src" && PCP_DEBUG=1 "$venv/bin/pip" install -q --force-reinstall ".[test]")

# The tests, run from a directory with no pcp/ in it, so the installed debug build is imported.
cp -r tests fuzz pyproject.toml "$work/run/"
cd "$work/run"
"$venv/bin/python" - <<'PY'
import pcp, pcp._buffer, pcp._queue, pcp._core_c
mods = (pcp._buffer, pcp._queue, pcp._core_c)
for m in mods:
    assert pcp.EXTENSIONS and "site-packages" in m.__file__ and m.__file__.endswith(".so"), m.__file__
print("debug build:", *(m.__file__ for m in mods))
PY

# Valgrind is ~50x slower: no Hypothesis deadlines, fewer examples where a test does not say.
cat > memcheck_profile.py <<'PY'
from hypothesis import HealthCheck, settings
settings.register_profile("memcheck", deadline=None, max_examples=10, suppress_health_check=list(HealthCheck))
settings.load_profile("memcheck")
PY

if [ "$#" -eq 0 ]; then
  set -- tests/test_ring.py tests/test_ring_properties.py tests/test_proxy.py \
    tests/test_proxy_differential.py tests/test_twisted_port.py tests/test_state_machine.py \
    tests/test_reentrancy.py tests/test_hard_cap.py tests/test_fuzz_regressions.py \
    tests/test_subclass_init.py tests/test_queue.py \
    -k "not twin and not real_transport"
  for f in "${@:1:11}"; do [ -e "$f" ] || { echo "missing $f" >&2; exit 2; }; done
fi

rm -f "$work"/valgrind.*.log
children=no
[ "${PCP_MEMCHECK_CHILDREN:-}" = 1 ] && children=yes
status=0
PYTHONMALLOC=malloc PCP_STATEFUL_EXAMPLES=${PCP_STATEFUL_EXAMPLES:-10} \
  valgrind --tool=memcheck --num-callers=40 --track-origins=yes --trace-children=$children \
    --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite \
    --log-file="$work/valgrind.%p.log" \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider -p memcheck_profile "$@" || status=$?

echo "== valgrind logs: $work/valgrind.*.log (one per process; errors in CPython itself are listed too)"
grep -h -E "ERROR SUMMARY|definitely lost|indirectly lost|Invalid|uninitialised" "$work"/valgrind.*.log \
  | sed 's/^==[0-9]*== *//' | sort | uniq -c | sort -rn | head -20
# Each error record is a block of lines starting "==pid== " and ending at a blank one.
pcp_errors=$(awk '
  /^==[0-9]+== $/ { if (block ~ /(_buffer|_queue|_core)\.(c|pyx|py)[:)]|_block\.h[:)]|pcp\/_(buffer|queue|core_c)[^ ]*\.so/) { n++; print block > "/dev/stderr" } block=""; next }
  /^==[0-9]+== / { block = block $0 "\n" }
  END { print n+0 }' "$work"/valgrind.*.log 2>"$work/pcp-errors.txt")
echo "== errors and leaks in pcp's code: $pcp_errors (details: $work/pcp-errors.txt)"
[ "$status" -eq 0 ] || echo "== pytest under valgrind exited $status"
[ "$pcp_errors" -eq 0 ] && [ "$status" -eq 0 ]
