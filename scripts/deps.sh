#!/bin/sh
# deps.sh: installs the Debian 12 packages holdfast needs to build and test,
# only those missing.  Needs root (or sudo) when something is missing.
set -e
PKGS="gcc make clang libclang-rt-14-dev pkg-config libyaml-dev liburcu-dev libjemalloc-dev \
libcmocka-dev libldns-dev ldnsutils libcurl4-openssl-dev libjansson-dev libmicrohttpd-dev \
python3 python3-dnspython python3-yaml bind9-dnsutils prometheus \
cppcheck clang-tidy afl++"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
		echo "deps: not root and no sudo; install as root: apt-get install$missing" >&2; exit 1; fi
fi
export DEBIAN_FRONTEND=noninteractive
${SUDO:-} apt-get update -qq || true
${SUDO:-} apt-get install -y -qq --no-install-recommends $missing
