#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs what is missing, builds, runs the unit and
# integration tests (each integration run makes and removes its own PostgreSQL cluster), checks
# every recorded response against openapi/openapi.yaml, lints the spec, gives each fuzzer a short
# smoke run, then does it all again in a build with AddressSanitizer and UndefinedBehaviorSanitizer.
#   tests/run.sh            everything
#   tests/run.sh --quick    skip the sanitizer build
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

quick=0
[ "${1:-}" = "--quick" ] && quick=1

deploy/install-deps.sh

echo "== contract tooling (npm ci, pinned by tests/contract/package-lock.json)"
(cd tests/contract && npm ci --no-audit --no-fund --loglevel=error)
(cd tests/contract && npx --no-install redocly lint --format=stylish ../../openapi/openapi.yaml)
bash tests/contract/selftest.sh

passed=0
failed=0
# Adds up what Check ("N%: Checks: C, Failures: F, Errors: E") and TAP reported in a meson test log.
count_checks() { # LOG
	local c f e log=$1
	[ -f "$log" ] || return 0 # meson stopped before it wrote one
	while read -r c f e; do # Check suites
		passed=$((passed + c - f - e))
		failed=$((failed + f + e))
	done < <(sed -n 's/^[0-9]*%: Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' "$log")
	# The deploy and ui (browser) tests speak TAP: one "ok N" or "not ok N" line a point.
	passed=$((passed + $(grep -c '^ok [0-9]' "$log" || true)))
	failed=$((failed + $(grep -c '^not ok [0-9]' "$log" || true)))
}

# meson test in DIR, its log DIR/meson-logs/LOGBASE.txt counted; the first failing run ends it all.
meson_test() { # DIR LOGBASE [meson test options]
	local dir=$1 logbase=$2
	shift 2
	local status=0
	meson test -C "$dir" --logbase "$logbase" --print-errorlogs "$@" || status=$?
	count_checks "$dir/meson-logs/$logbase.txt"
	if [ $status -ne 0 ]; then
		echo "tests: $passed passed, $failed failed"
		exit $status
	fi
}

run_build() { # DIR [meson setup options]
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@"
	fi
	meson compile -C "$dir"
	local records="$root/$dir/contract-records.ndjson"
	rm -f "$records"
	CM_TEST_RECORD="$records" meson_test "$dir" testlog
	echo "== contract check of every response the $dir tests received"
	node tests/contract/check-responses.mjs openapi/openapi.yaml "$records"
}

echo "== build and test (build/)"
run_build build
# Not in a plain `meson test` (tests/meson.build): a few integration cases again, every clawmeshd
# under valgrind memcheck; a test fails on any memcheck error or definite leak.
echo "== integration cases under valgrind memcheck (build/, suite valgrind)"
meson_test build testlog-valgrind --suite valgrind
grep -h '^valgrind: ' build/meson-logs/testlog-valgrind.txt || true
# The libFuzzer harnesses (docs/fuzzing.md), each for a short fixed budget, then their saved
# regressions. Their build is clang's, instrumented throughout, and needs no test libraries.
echo "== fuzz smoke runs (build-fuzz/: clang, libFuzzer, ASan + UBSan)"
if [ ! -f build-fuzz/build.ninja ]; then
	CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=false -Dbench=false
fi
meson compile -C build-fuzz
meson_test build-fuzz testlog --suite fuzz
if [ $quick = 0 ]; then
	echo "== build and test under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		run_build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
fi
echo "tests: $passed passed, $failed failed"
