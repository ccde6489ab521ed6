#!/bin/sh
# bench.sh: `make bench` (issue 8). Installs the reference servers if
# missing, then runs tests/bench/bench.py: ../shared/bench/dnsbench.py once
# per cluster size with holdfast (one worker, and two workers) beside echo,
# nsd, knot, gdnsd, unbound and bind9, and prints qps, p50/p99, CPU ms per
# 1k answers, PSS, answer mismatches and the ratios to Knot and to echo.
# Then tests/bench/churn_bench.py: query p99 with 1,000 endpoint changes/s
# streaming from the fake API vs without, and the consistency check.
# Knobs (environment): BENCH_SIZES (1000,10000,100000), BENCH_RUNS (2),
# BENCH_DURATION (4 s), BENCH_SERVERS, BENCH_DIR (dnsbench's folder),
# BENCH_OUT (folder for the raw output, bench.json and churn.json),
# BENCH_CHURN=0 (skip the churn part), BENCH_CHURN_ROUNDS (5) x
# BENCH_CHURN_DURATION (2 s) per phase.
set -e
B=${1:-build}
[ $# -gt 0 ] && shift
cd "$(dirname "$0")/.."
BENCH=${BENCH_DIR:-../shared/bench}
[ -d "$BENCH" ] || BENCH=/work/shared/bench
missing=""
for p in nsd knot gdnsd unbound bind9; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO=sudo
	# Debian starts daemons on install; the harness starts its own
	[ -x /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null; $SUDO chmod +x /usr/sbin/policy-rc.d; }
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
OUT=${BENCH_OUT:-$B/bench}
mkdir -p "$OUT"
rc=0
/usr/bin/python3 tests/bench/bench.py --holdfast "$B/holdfast" --dnsbench "$BENCH" \
	--outdir "$OUT" --json "$OUT/bench.json" "$@" || rc=1
if [ "${BENCH_CHURN:-1}" != 0 ]; then
	# p99 with 1,000 endpoint changes/s from the fake API vs without, and
	# the consistency check (no half-applied update)
	echo
	timeout 600 /usr/bin/python3 tests/bench/churn_bench.py --holdfast "$B/holdfast" \
		--duration "${BENCH_CHURN_DURATION:-2}" --rounds "${BENCH_CHURN_ROUNDS:-5}" \
		--json "$OUT/churn.json" || rc=1
fi
exit $rc
