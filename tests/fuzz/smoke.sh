#!/usr/bin/env bash
# The smoke run of one libFuzzer harness, as a TAP test: a short, fixed budget from the seed
# corpus (new inputs go to a temporary directory, never into the tree), then every saved crash
# input of tests/fuzz/regressions/NAME/ replayed once. Long runs: docs/fuzzing.md.
#   smoke.sh FUZZER NAME FUZZ_SRC_DIR ARTIFACT_DIR [CLAWMESHD PG_LOCAL_SH]
# With CLAWMESHD and PG_LOCAL_SH the harness gets a throwaway PostgreSQL cluster, migrated by
# clawmeshd, in CM_FUZZ_DB_URL (the merge-patch differential harness).
# CM_FUZZ_TIME (seconds, default 10) changes the budget.
set -euo pipefail
fuzzer=$(realpath "$1")
name=$2
src=$(cd "$3" && pwd)
artifacts=$4
secs=${CM_FUZZ_TIME:-10}

tmp=$(mktemp -d /tmp/clawmesh-fuzz.XXXXXX)
chmod 755 "$tmp"
pgl=""
cleanup() {
	[ -z "$pgl" ] || "$pgl" destroy "$tmp/pg" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

if [ $# -ge 6 ]; then
	bin=$(realpath "$5")
	pgl=$(realpath "$6")
	"$pgl" init "$tmp/pg" 5432 >/dev/null
	"$pgl" start "$tmp/pg"
	psql "$("$pgl" url "$tmp/pg" postgres)" -qc "CREATE DATABASE clawmesh"
	export CM_FUZZ_DB_URL
	CM_FUZZ_DB_URL=$("$pgl" url "$tmp/pg" clawmesh)
	# clawmeshd is instrumented too; its leak report is not this test's business.
	ASAN_OPTIONS=detect_leaks=0 "$bin" migrate --database-url "$CM_FUZZ_DB_URL" 2>/dev/null
fi

regressions="$src/regressions/$name"
have_regressions=0
[ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ] && have_regressions=1
echo "1..$((1 + have_regressions))"

mkdir -p "$artifacts" "$tmp/corpus"
opts=(-max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -max_len=8192 -print_final_stats=1
	-artifact_prefix="$artifacts/$name-")
[ -f "$src/$name.dict" ] && opts+=(-dict="$src/$name.dict")
status=0
"$fuzzer" "${opts[@]}" "$tmp/corpus" "$src/corpus/$name" >"$tmp/log" 2>&1 || status=$?
runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$tmp/log" | tail -n 1)
last=$(sed -n 's/^#[0-9].*\(cov: [0-9]*\) \(ft: [0-9]*\) \(corp: [^ ]*\).*/\1 \2 \3/p' "$tmp/log" | tail -n 1)
if [ $status = 0 ] && [ -n "$runs" ]; then
	echo "ok 1 - fuzz_$name: ${runs} runs in ${secs} s, 0 crashes (${last:-no stats})"
else
	echo "not ok 1 - fuzz_$name: exit $status after ${runs:-?} runs; input saved in $artifacts/$name-*"
	grep -E 'invariant failed|ERROR|SUMMARY|runtime error|in (cm_|LLVMFuzzer)|^(target|patch|RFC|pg) ' "$tmp/log" | head -n 40 | sed 's/^/# /' || true
fi

if [ $have_regressions = 1 ]; then
	rstatus=0
	"$fuzzer" -runs=1 "$regressions"/* >"$tmp/replay" 2>&1 || rstatus=$?
	n=$(find "$regressions" -type f | wc -l)
	if [ $rstatus = 0 ]; then
		echo "ok 2 - fuzz_$name: $n regression input(s) replayed"
	else
		echo "not ok 2 - fuzz_$name: a regression input fails again"
		grep -E 'Running:|invariant failed|ERROR|SUMMARY|runtime error|in (cm_|LLVMFuzzer)' "$tmp/replay" | head -n 40 | sed 's/^/# /' || true
		status=1
	fi
fi
[ $status = 0 ]
