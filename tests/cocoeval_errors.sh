#!/bin/bash
# kcv cocoeval on bad input: each tests/cocoeval/invalid/<case>/ holds a
# dt.json (and a gt.json, else ../gt.json is used), optional arguments (args)
# and the exact one-line error kcv must print (error); the exit status must
# be 1. Then the inputs that are not errors: an empty results list and
# detections of unknown categories (warnings, exit 0).
. "${KCV_TOP_SRCDIR:?}/tests/lib.sh"

for dir in "$SRC"/tests/cocoeval/invalid/*/; do
	name=$(basename "$dir")
	if [ -f "$dir/args" ]; then
		read -r -a args <"$dir/args"
	elif [ -f "$dir/gt.json" ]; then
		args=(--gt gt.json --dt dt.json)
	else
		args=(--gt ../gt.json --dt dt.json)
	fi
	# the error names the files as given: run from the case folder
	(cd "$dir" && "$KCV" cocoeval "${args[@]}") >"$TMP/out" 2>"$TMP/err"
	status=$?
	if [ "$status" -ne 1 ]; then
		fail "$name: exit status $status, expected 1 ($(head -c 300 "$TMP/err"))"
	elif [ "$(cat "$TMP/err")" != "$(cat "$dir/error")" ]; then
		fail "$name: got '$(cat "$TMP/err")', expected '$(cat "$dir/error")'"
	elif [ -s "$TMP/out" ]; then
		fail "$name: printed something on stdout"
	else
		pass "$name"
	fi
done

gt="$SRC/tests/cocoeval/invalid/gt.json"
echo '[]' >"$TMP/empty.json"
if expect_status 0 "an empty results list is evaluated" -- \
	"$KCV" cocoeval --gt "$gt" --dt "$TMP/empty.json" --json; then
	expect_in "$TMP/err" "holds no detections" "an empty results list is reported"
	expect_in "$TMP/out" '"AP": 0.0' "an empty results list gives AP 0"
fi
cat >"$TMP/other.json" <<'EOF'
[{"image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 40], "score": 0.9},
 {"image_id": 2, "category_id": 42, "bbox": [0, 0, 100, 80], "score": 0.8}]
EOF
if expect_status 0 "a detection of an unknown category is ignored" -- \
	"$KCV" cocoeval --gt "$gt" --dt "$TMP/other.json" --json; then
	expect_in "$TMP/err" "1 detection(s) have a category_id that" "unknown categories are reported"
	expect_in "$TMP/out" '"AR1": 0.5,' "the other detections still count"
fi
expect_status 0 "kcv cocoeval --help" -- "$KCV" cocoeval --help &&
	expect_in "$TMP/out" "Usage: kcv cocoeval" "the help names the command"
finish
