#!/bin/sh
# bench.sh: runs ../shared/bench/dnsbench.py with holdfast beside echo, nsd
# and knot on the same synthetic cluster and prints the table (qps, latency,
# CPU per 1k queries, RSS/PSS).  Installs the reference servers if missing.
set -e
B=${1:-build}
cd "$(dirname "$0")/.."
BENCH=${BENCH_DIR:-../shared/bench}
[ -d "$BENCH" ] || BENCH=/work/shared/bench
missing=""
for p in nsd knot dnsperf; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	[ -x /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi
/usr/bin/python3 "$BENCH/dnsbench.py" --servers echo,nsd,knot \
	--server-cmd "holdfast=$PWD/$B/holdfast -conf {corefile} -dns.port {port}" \
	--ref knot --client qblast --runs ${BENCH_RUNS:-3} --duration ${BENCH_DURATION:-8}
