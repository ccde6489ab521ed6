#!/bin/bash
# run.sh: runs one libFuzzer harness for SECONDS (make fuzz, make fuzz-smoke)
# with its seed corpus and dictionary, then copies every crash-, leak-,
# timeout-, oom- and slow-unit file it wrote into
# tests/fuzz/regressions/HARNESS/, where `make test` replays it for good.
# Prints libFuzzer's final stats; exits non-zero on any finding.
#   tests/fuzz/run.sh BUILD_DIR HARNESS SECONDS [extra libFuzzer flags...]
set -u
b=$1 h=$2 secs=$3
shift 3
bin=$b/libfuzzer/$h
corpus=$b/corpus/$h
art=$b/artifacts/$h
reg=tests/fuzz/regressions/$h
mkdir -p "$corpus" "$art"
dict=()
[ -f "tests/fuzz/$h.dict" ] && dict=(-dict="tests/fuzz/$h.dict")
log=$b/fuzz-$h.log
timeout --kill-after=30 $((secs + 120)) "$bin" -max_total_time="$secs" -timeout=30 \
	-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/" "${dict[@]}" "$@" \
	"$corpus" "tests/fuzz/$h.in" >"$log" 2>&1
rc=$?
found=0
for f in "$art"/crash-* "$art"/leak-* "$art"/timeout-* "$art"/oom-*; do
	[ -e "$f" ] || continue
	mkdir -p "$reg"
	cp "$f" "$reg/"
	echo "run.sh: $h: finding $(basename "$f") copied to $reg/" >&2
	found=1
done
rm -f "$art"/crash-* "$art"/leak-* "$art"/timeout-* "$art"/oom-* "$art"/slow-unit-*
grep -E '^(stat::|#[0-9]+[[:space:]]+DONE|INFO: seed corpus|==[0-9]+==ERROR|SUMMARY)' "$log" | tail -n 14
if [ $rc -ne 0 ] || [ $found -ne 0 ]; then
	echo "run.sh: $h FAILED (exit $rc); log: $log" >&2
	tail -n 40 "$log" >&2
	exit 1
fi
exit 0
