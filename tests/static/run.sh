#!/bin/bash
# run.sh: the static checks of `make static` (cppcheck, then clang-tidy with
# .clang-tidy) on plugin/ and shim/, two files at a time; `deep` runs the
# clang static analyzer instead of the fast clang-tidy checks
# (make static-deep).  Exit status 1 on any finding.
#   tests/static/run.sh [deep]
set -u
cd "$(dirname "$0")/../.."
for t in cppcheck clang-tidy; do
	command -v $t >/dev/null || { echo "static: $t is needed (make deps)" >&2; exit 1; }
done
ver=$(sed -n 's/^VERSION *:= *//p' Makefile)
defs=(-D_GNU_SOURCE -DHF_BUILDING_LIBRARY "-DHF_VERSION=\"$ver\"" -Iplugin/include -Iplugin/src -Ishim)
files=(plugin/src/*.c shim/*.c)
rc=0
if [ "${1:-}" != deep ]; then
	echo "== cppcheck (${#files[@]} files)"
	cppcheck -q --std=c11 --enable=warning,performance,portability --inline-suppr --error-exitcode=1 \
		--suppressions-list=tests/static/cppcheck-suppressions.txt "${defs[@]}" -j2 plugin/src shim || rc=1
	echo "== clang-tidy (${#files[@]} files)"
	checks=()
else
	echo "== clang-tidy, static analyzer (${#files[@]} files)"
	checks=("-checks=-*,clang-analyzer-core.*,clang-analyzer-unix.*,clang-analyzer-deadcode.*,clang-analyzer-security.*,-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling")
fi
export -f true 2>/dev/null
printf '%s\n' "${files[@]}" | xargs -P2 -n6 bash -c 'clang-tidy -quiet "$0" "$@" '"${checks[*]:+\"${checks[*]}\"}"' -- -std=c11 '"$(printf '%q ' "${defs[@]}")"' 2>/dev/null' || rc=1
[ $rc -eq 0 ] && echo "static: no findings" || echo "static: findings above" >&2
exit $rc
