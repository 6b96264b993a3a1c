#!/bin/bash
# kcv cocoeval against pycocotools: every case of shared/testdata/cocoeval and
# tests/cocoeval/valid holds gt.json, dt.json and expected.json (pycocotools'
# 12 stats and each category's AP and AP50). kcv cocoeval --json must give
# every number within 1e-6, the same output with 3 threads, and the text
# summary in pycocotools' layout.
. "${KCV_TOP_SRCDIR:?}/tests/lib.sh"

cases=()
for d in "$SHARED"/testdata/cocoeval/*/ "$SRC"/tests/cocoeval/valid/*/; do
	[ -f "$d/expected.json" ] && cases+=("${d%/}")
done
if [ ${#cases[@]} -eq 0 ]; then
	echo "no cocoeval cases found: skipped"
	exit 77
fi

# compare.py GOT.json EXPECTED.json TEXT: numbers within 1e-6, same categories,
# and the text output equal to pycocotools' summarize() lines
cat >"$TMP/compare.py" <<'EOF'
import json, sys
got = json.load(open(sys.argv[1]))
exp = json.load(open(sys.argv[2]))
bad = []
for k, v in exp["stats"].items():
    if abs(got["stats"][k] - v) > 1e-6:
        bad.append("%s %.9f != %.9f" % (k, got["stats"][k], v))
if set(got["per_category"]) != set(exp["per_category"]):
    bad.append("categories %s != %s" % (sorted(got["per_category"]), sorted(exp["per_category"])))
for c, e in exp["per_category"].items():
    for k, v in e.items():
        g = got["per_category"].get(c, {}).get(k)
        if g is None or abs(g - v) > 1e-6:
            bad.append("category %s %s %s != %.9f" % (c, k, g, v))
fmt = " {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}"
rows = [(1, None, "all", 100), (1, .5, "all", 100), (1, .75, "all", 100),
        (1, None, "small", 100), (1, None, "medium", 100), (1, None, "large", 100),
        (0, None, "all", 1), (0, None, "all", 10), (0, None, "all", 100),
        (0, None, "small", 100), (0, None, "medium", 100), (0, None, "large", 100)]
names = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
want = [fmt.format("Average Precision" if ap else "Average Recall", "(AP)" if ap else "(AR)",
                   "0.50:0.95" if iou is None else "%0.2f" % iou, area, md, exp["stats"][n])
        for (ap, iou, area, md), n in zip(rows, names)]
text = open(sys.argv[3]).read().splitlines()
if text != want:
    bad.append("summary text differs: %r" % [l for l in text if l not in want][:2])
print("; ".join(bad))
sys.exit(1 if bad else 0)
EOF

for d in "${cases[@]}"; do
	name=$(basename "$d")
	if ! "$KCV" cocoeval --gt "$d/gt.json" --dt "$d/dt.json" --json >"$TMP/out.json" 2>"$TMP/err"; then
		fail "$name: kcv cocoeval failed: $(head -c 400 "$TMP/err")"
		continue
	fi
	"$KCV" cocoeval --gt "$d/gt.json" --dt "$d/dt.json" >"$TMP/out.txt" 2>/dev/null
	if msg=$("$PY" "$TMP/compare.py" "$TMP/out.json" "$d/expected.json" "$TMP/out.txt"); then
		pass "$name: 12 stats, per-category AP/AP50 and the summary text match pycocotools"
	else
		fail "$name: $msg"
	fi
	"$KCV" cocoeval --gt "$d/gt.json" --dt "$d/dt.json" --json --threads 3 >"$TMP/out3.json" 2>/dev/null
	if cmp -s "$TMP/out.json" "$TMP/out3.json"; then
		pass "$name: --threads 3 gives identical output"
	else
		fail "$name: --threads 3 output differs"
	fi
done

# --per-class: one row per category after the summary
d=${cases[0]}
if "$KCV" cocoeval --gt "$d/gt.json" --dt "$d/dt.json" --per-class >"$TMP/pc.txt" 2>/dev/null; then
	rows=$(sed -n '/^Per category/,$p' "$TMP/pc.txt" | tail -n +3 | wc -l)
	cats=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["per_category"]))' \
		"$d/expected.json")
	if [ "$rows" -eq "$cats" ] && [ "$(head -n 12 "$TMP/pc.txt" | grep -c '^ Average')" -eq 12 ]; then
		pass "--per-class prints the summary and $cats category rows"
	else
		fail "--per-class: $rows rows for $cats categories"
	fi
else
	fail "--per-class failed"
fi
finish
