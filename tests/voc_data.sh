#!/bin/bash
# kcv data on the real VOC 2007 subset: --stats against an independent parse,
# --show writes the grid, --check passes on clean data and names a truncated
# JPEG and a broken XML, --bench runs.
. "${KCV_TOP_SRCDIR:?}/tests/lib.sh"

export VOC_ROOT="$VOC_MINI"
PIPE="$SRC/pipelines/voc_retinanet.json"

for split in train validation; do
	file=$([ "$split" = validation ] && echo val || echo train)
	expect_status 0 "stats $split" -- "$KCV" data "$PIPE" --split "$split" --stats --json
	"$PY" "$SRC/tests/voc_oracle.py" "$VOC_MINI" 2007 "$file" >"$TMP/oracle.json"
	"$PY" - "$TMP/out" "$TMP/oracle.json" "$split" <<'PYEOF' && pass "stats $split = oracle" || fail "stats $split differ from the XML"
import json, sys
got, want, split = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
assert got["split"] == split, got["split"]
assert got["images"] == want["images"], (got["images"], want["images"])
assert list(got["classes"]) == list(want["classes"]), "class order"
assert got["classes"] == want["classes"], (got["classes"], want["classes"])
PYEOF
done
# the README of the subset: train has 208 objects, 47 difficult
"$KCV" data "$PIPE" --split train --stats --json 2>/dev/null | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
assert sum(c["objects"] for c in d["classes"].values()) == 208
assert sum(c["difficult"] for c in d["classes"].values()) == 47
' && pass "train totals 208/47" || fail "train totals"

# --show 9: a 3x3 grid of 512x512 images with 4-pixel gaps
expect_status 0 "show 9" -- "$KCV" data "$PIPE" --show 9 --out "$TMP/grid.jpg"
"$PY" - "$TMP/grid.jpg" <<'PYEOF' && pass "grid is 1552x1552" || fail "grid size"
import struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:2] == b"\xff\xd8"
i = 2
while i < len(data):
    marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
    if marker in (0xC0, 0xC1, 0xC2):
        h, w = struct.unpack(">HH", data[i + 5:i + 9])
        assert (w, h) == (3 * 512 + 4 * 4, 3 * 512 + 4 * 4), (w, h)
        sys.exit(0)
    i += 2 + length
sys.exit(1)
PYEOF

# --check: clean data passes
expect_status 0 "check clean train" -- "$KCV" data "$PIPE" --split train --check
expect_status 0 "check clean val (json)" -- "$KCV" data "$PIPE" --split validation --check --json
expect_in "$TMP/out" '"problems": []' "no problems listed"

# a copy with a truncated JPEG and an XML with a missing field
mkdir -p "$TMP/voc/VOC2007"
cp -r "$VOC_MINI/VOC2007/Annotations" "$VOC_MINI/VOC2007/JPEGImages" "$VOC_MINI/VOC2007/ImageSets" "$TMP/voc/VOC2007/"
chmod -R u+w "$TMP/voc"
victim=$(sed -n 5p "$VOC_MINI/VOC2007/ImageSets/Main/train.txt")
size=$(stat -c %s "$VOC_MINI/VOC2007/JPEGImages/$victim.jpg")
head -c $((size / 2)) "$VOC_MINI/VOC2007/JPEGImages/$victim.jpg" >"$TMP/voc/VOC2007/JPEGImages/$victim.jpg"
export VOC_ROOT="$TMP/voc"
expect_status 1 "check finds the truncated JPEG" -- "$KCV" data "$PIPE" --split train --check
expect_in "$TMP/err" "$victim.jpg" "check names the truncated file"
expect_in "$TMP/err" "1 problem in 1 of 48 images" "check summary"
expect_status 1 "loading the truncated JPEG stops" -- "$KCV" data "$PIPE" --split train --bench --seconds 0
expect_in "$TMP/err" "$victim.jpg" "load error names the file"
expect_status 0 "on_bad_sample skip" -- "$KCV" data "$PIPE" --split train --bench --seconds 0 --set data.on_bad_sample=skip --json
expect_in "$TMP/out" '"images": 47' "skip drops exactly one image"

# a broken annotation is an error naming file and field
xml_victim=$(sed -n 2p "$VOC_MINI/VOC2007/ImageSets/Main/val.txt")
sed -i '0,/<xmin>[0-9]*<\/xmin>/s///' "$TMP/voc/VOC2007/Annotations/$xml_victim.xml"
expect_status 1 "missing xmin" -- "$KCV" data "$PIPE" --split validation --stats
expect_in "$TMP/err" "$xml_victim.xml" "missing xmin names the file"
expect_in "$TMP/err" "xmin" "missing xmin names the field"
printf '<annotation><object>' >"$TMP/voc/VOC2007/Annotations/$xml_victim.xml"
expect_status 1 "malformed XML" -- "$KCV" data "$PIPE" --split validation --stats
expect_in "$TMP/err" "$xml_victim.xml:1:" "malformed XML has file:line"

# a box reaching outside its image is clipped, counted and reported once;
# an image without objects is kept with no boxes
cp "$VOC_MINI/VOC2007/Annotations/$xml_victim.xml" "$TMP/voc/VOC2007/Annotations/$xml_victim.xml"
chmod u+w "$TMP/voc/VOC2007/Annotations/$xml_victim.xml"
sed -i '0,/<xmax>[0-9]*<\/xmax>/s//<xmax>9999<\/xmax>/' "$TMP/voc/VOC2007/Annotations/$xml_victim.xml"
empty=$(sed -n 4p "$VOC_MINI/VOC2007/ImageSets/Main/val.txt")
"$PY" - "$TMP/voc/VOC2007/Annotations/$empty.xml" <<'PYEOF'
import sys, xml.etree.ElementTree as ET
t = ET.parse(sys.argv[1])
for o in t.getroot().findall("object"):
    t.getroot().remove(o)
t.write(sys.argv[1])
PYEOF
expect_status 0 "box outside the image is loaded" -- "$KCV" data "$PIPE" --split validation --bench --seconds 0 --json --set data.workers=2
[ "$(grep -c "clipped" "$TMP/err")" -eq 1 ] && pass "clipping reported once" || fail "clipping not reported exactly once: $(cat "$TMP/err")"
expect_in "$TMP/err" "1 box reached outside its image" "clip count"
expect_in "$TMP/out" '"images": 24' "the image without objects is kept"
expect_status 1 "check lists the box outside the image" -- "$KCV" data "$PIPE" --split validation --check
expect_in "$TMP/err" "$xml_victim.xml" "check names the file with the box outside"
expect_status 0 "stats with an image without objects" -- "$KCV" data "$PIPE" --split validation --stats --json
expect_in "$TMP/out" '"images": 24' "empty image counted"
export VOC_ROOT="$VOC_MINI"

# --bench (speed is recorded in BENCHMARKS.md, not asserted here)
expect_status 0 "bench" -- "$KCV" data "$PIPE" --split train --bench --seconds 0 --json
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["images"]==48 and d["images_per_s"]>0 and d["augment"] is True' "$TMP/out" && pass "bench json" || fail "bench json"
finish
