#!/bin/bash
# libkcv exports exactly the KCV_API functions of the public headers.
. "${KCV_TOP_SRCDIR:?}/tests/lib.sh"

lib="$BUILD/.libs/libkcv.so"
nm -D --defined-only "$lib" | awk '$2 == "T" {print $3}' | sort >"$TMP/exported"
cat "$SRC"/include/kcv/*.h "$BUILD"/include/kcv/version.h | tr '\n' ' ' | sed 's/;/;\n/g' |
	grep 'KCV_API' | grep -o 'kcv_[a-z0-9_]*[[:space:]]*(' | sed 's/[[:space:]]*($//' | sort -u >"$TMP/declared"
if diff "$TMP/declared" "$TMP/exported" >"$TMP/diff"; then
	pass "exports match the headers ($(wc -l <"$TMP/exported") functions)"
else
	fail "exports differ from the KCV_API declarations (< declared only, > exported only): $(cat "$TMP/diff")"
fi
finish
