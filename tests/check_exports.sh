#!/bin/sh
# check_exports.sh: libholdfast.so must export exactly the hf_ ABI listed in
# tests/exports.txt (nm -D --defined-only), nothing else.
set -e
lib=$1
got=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRV]$/ {print $3}' | sed 's/@.*//' | sort -u)
bad=$(echo "$got" | grep -v '^hf_' || true)
if [ -n "$bad" ]; then echo "check_exports: non-hf_ symbols exported:"; echo "$bad"; exit 1; fi
want=$(sort -u "$(dirname "$0")/exports.txt")
if [ "$got" != "$want" ]; then
	echo "check_exports: exports differ from tests/exports.txt:"
	echo "want: $want"; echo "got: $got"
	exit 1
fi
echo "check_exports: $(echo "$got" | wc -l) hf_ symbols, nothing else"
