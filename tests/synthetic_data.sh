#!/bin/bash
# The quickstart's data: deterministic, exported as a VOCdevkit folder that
# pascal_voc reads back with the same objects, and drawn as a grid.
. "${KCV_TOP_SRCDIR:?}/tests/lib.sh"

PIPE="$SRC/pipelines/quickstart.json"
expect_status 0 "stats of the generated split" -- "$KCV" data "$PIPE" --split validation --stats --json \
	--set data.validation.size=24
cp "$TMP/out" "$TMP/gen.json"
expect_status 0 "export-voc" -- "$KCV" data "$PIPE" --split validation --export-voc "$TMP/syn" \
	--set data.validation.size=24
[ "$(wc -l <"$TMP/syn/VOC2007/ImageSets/Main/val.txt")" -eq 24 ] && pass "24 ids listed" || fail "split file"
expect_status 0 "export-voc again" -- "$KCV" data "$PIPE" --split validation --export-voc "$TMP/syn2" \
	--set data.validation.size=24
diff -r "$TMP/syn" "$TMP/syn2" >/dev/null && pass "export is deterministic" || fail "two exports differ"

cat >"$TMP/back.json" <<JSON
{"image_size": [256, 256],
 "data": {"validation": {"plugin": "pascal_voc", "root": "$TMP/syn", "split": "val",
          "classes": ["circle", "square", "triangle", "diamond", "plus", "star"]}}}
JSON
expect_status 0 "pascal_voc reads the export" -- "$KCV" data "$TMP/back.json" --split validation --stats --json
"$PY" - "$TMP/gen.json" "$TMP/out" <<'PYEOF' && pass "same objects per class" || fail "objects differ after export"
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a["images"] == b["images"] == 24, (a["images"], b["images"])
assert a["classes"] == b["classes"], (a["classes"], b["classes"])
assert sum(c["objects"] for c in a["classes"].values()) >= 24
PYEOF
expect_status 0 "export passes --check" -- "$KCV" data "$TMP/back.json" --split validation --check
expect_status 0 "quickstart grid" -- "$KCV" data "$PIPE" --show 9 --out "$TMP/samples.jpg"
[ -s "$TMP/samples.jpg" ] && pass "grid written" || fail "no grid"
finish
