#!/usr/bin/env bash
# Runs every fuzz target of the module for a wall-clock budget each
# (FUZZ_BUDGET, a Go duration), for `make fuzz-long` and so `make soak`.
#
# A duration, not a count of executions: the soak has a time budget, and on
# a shared machine a fixed count takes anywhere from seconds to many minutes.
# Go 1.26's coordinator can fail a duration run that found nothing, with a
# bare "context deadline exceeded" (go.dev/issue/75804, fixed in 1.27). Such
# a run is told apart from a finding, which always prints "Failing input
# written to" and adds a file under testdata/fuzz/<Target>/, and is counted
# as "raced", not as passed or failed.
#
# FUZZ_KEEP=1 copies each target's corpus (the inputs the fuzzer found
# interesting, kept in the Go build cache) into testdata/fuzz/<Target>/, so
# plain `go test` replays them; commit what it adds.
set -uo pipefail

budget=${FUZZ_BUDGET:-60s}
keep=${FUZZ_KEEP:-0}
go=${GO:-go}
cache=$($go env GOCACHE)/fuzz/$($go list -m)
cd "$(dirname "$0")/.."

passed=0 failed=0 raced=0
failures=()
while IFS=: read -r file decl; do
	target=${decl#func }
	dir=$(dirname "$file")
	corpus=$dir/testdata/fuzz/$target
	before=$(ls "$corpus" 2>/dev/null | sort)
	echo "fuzz $target in ./$dir for $budget"
	out=$($go test -run '^$' -fuzz "^$target\$" -fuzztime "$budget" "./$dir" 2>&1)
	rc=$?
	after=$(ls "$corpus" 2>/dev/null | sort)
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		echo "$out" | grep -E '^fuzz: elapsed' | tail -1
	elif [ "$before" = "$after" ] && ! grep -q 'Failing input written to' <<<"$out" &&
		grep -qx '[[:space:]]*context deadline exceeded' <<<"$out"; then
		raced=$((raced + 1))
		echo "$out" | grep -E '^fuzz: elapsed' | tail -1
		echo "  raced: the coordinator's deadline race (go.dev/issue/75804), no input failed"
	else
		failed=$((failed + 1))
		failures+=("$target ($dir)")
		echo "$out" | tail -30
	fi
	if [ "$keep" = 1 ] && [ -d "$cache/$dir/$target" ]; then
		mkdir -p "$corpus"
		cp -n "$cache/$dir/$target"/* "$corpus"/ 2>/dev/null || true
	fi
done < <(grep -rHoE '^func Fuzz[A-Za-z0-9_]+' --include='*_test.go' pkg cmd internal | sort -u)

for f in "${failures[@]}"; do
	echo "FAIL: $f"
done
echo "fuzz-long: $passed passed, $failed failed, $raced raced (budget $budget each)"
[ $failed -eq 0 ]
