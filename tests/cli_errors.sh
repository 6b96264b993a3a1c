#!/bin/bash
# Bad pipelines: each tests/pipelines/invalid/<case>/ holds pipeline.json,
# optional extra arguments (args) and the exact error kcv must print (error).
# kcv validate must exit 1 with that one line, under the sanitizers too.
. "${KCV_TOP_SRCDIR:?}/tests/lib.sh"

export KCV_SHARED_DIR="$SHARED"
unset KCV_SURELY_UNSET_VARIABLE
for dir in "$SRC"/tests/pipelines/invalid/*/; do
	name=$(basename "$dir")
	args=()
	[ -f "$dir/args" ] && read -r -a args <"$dir/args"
	# the error names the file as given: run from the case folder
	(cd "$dir" && "$KCV" validate pipeline.json "${args[@]}") >"$TMP/out" 2>"$TMP/err"
	status=$?
	expected=$(sed "s|@SHARED@|$SHARED|g" "$dir/error")
	if [ "$status" -ne 1 ]; then
		fail "$name: exit status $status, expected 1 ($(head -c 300 "$TMP/err"))"
	elif [ "$(cat "$TMP/err")" != "$expected" ]; then
		fail "$name: got '$(cat "$TMP/err")', expected '$expected'"
	else
		pass "$name"
	fi
done
finish
