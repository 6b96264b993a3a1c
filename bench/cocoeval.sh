#!/bin/bash
# kcv cocoeval against pycocotools on a COCO-val-sized case (5,000 images,
# 80 categories, about 35,000 annotations, 100 detections per image), made
# deterministically by bench/cocoeval_gen.py. Times the whole `kcv cocoeval`
# command (reading both files included) with 1 and 2 threads, and
# pycocotools' evaluate() + accumulate() + summarize() (its file loading is
# reported apart), with the peak RSS of each process (/usr/bin/time %M), and
# checks that the 12 stats agree. Run from the build tree:
#   PYCOCOTOOLS_DIR=/path/to/cocoapi/PythonAPI bench/cocoeval.sh
# PYCOCOTOOLS_DIR is a built copy of github.com/cocodataset/cocoapi's
# PythonAPI (python3 setup.py build_ext --inplace; needs cython3,
# python3-numpy, python3-dev), kept outside this repository.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${PYCOCOTOOLS_DIR:?set PYCOCOTOOLS_DIR to a built cocoapi/PythonAPI folder}"
export PYCOCOTOOLS_DIR
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/kcv-bench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

echo "# $(date -u +%F) $(uname -m), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p')," \
	"$(free -g | awk '/^Mem:/ {print $2}') GiB"
"$py" bench/cocoeval_gen.py "$tmp" | sed 's/^/# case: /'
echo "# files: gt.json $(($(stat -c %s "$tmp/gt.json") / 1048576)) MiB," \
	"dt.json $(($(stat -c %s "$tmp/dt.json") / 1048576)) MiB"

# best of `runs` wall times; peak RSS of the last run
runs=${RUNS:-3}
kcv_run() {
	local threads=$1 best=""
	for _ in $(seq "$runs"); do
		/usr/bin/time -f '%e %M' -o "$tmp/time" ./kcv cocoeval --gt "$tmp/gt.json" \
			--dt "$tmp/dt.json" --json --threads "$threads" >"$tmp/kcv$threads.json"
		read -r s kb <"$tmp/time"
		if [ -z "$best" ] || awk "BEGIN {exit !($s < $best)}"; then best=$s; fi
	done
	echo "$best $((kb / 1024))"
}
read -r kcv1_s kcv1_mb <<<"$(kcv_run 1)"
read -r kcv2_s kcv2_mb <<<"$(kcv_run 2)"
cmp -s "$tmp/kcv1.json" "$tmp/kcv2.json" || { echo "1 and 2 threads differ" >&2; exit 1; }

/usr/bin/time -f '%e %M' -o "$tmp/time" "$py" bench/cocoeval_pycoco.py "$tmp/gt.json" \
	"$tmp/dt.json" >"$tmp/py.json"
read -r py_total py_kb <"$tmp/time"

"$py" - "$tmp/py.json" "$tmp/kcv1.json" "$kcv1_s" "$kcv1_mb" "$kcv2_s" "$kcv2_mb" "$py_total" \
	"$((py_kb / 1024))" <<'EOF'
import json, sys
py = json.load(open(sys.argv[1]))
kcv = json.load(open(sys.argv[2]))
k1, m1, k2, m2, pt, pm = (float(x) for x in sys.argv[3:9])
diff = max(abs(py["stats"][n] - kcv["stats"][n]) for n in py["stats"])
ev = py["eval_s"]
print("%-56s %9s %9s" % ("", "seconds", "peak MiB"))
print("%-56s %9.2f %9s" % ("pycocotools evaluate+accumulate+summarize", ev, ""))
print("%-56s %9.2f %9s" % ("pycocotools COCO(gt) + loadRes(dt)", py["load_s"], ""))
print("%-56s %9.2f %9d" % ("pycocotools, whole process (start, load, evaluate)", pt, pm))
print("%-56s %9.2f %9d" % ("kcv cocoeval, whole command, --threads 1", k1, m1))
print("%-56s %9.2f %9d" % ("kcv cocoeval, whole command, --threads 2", k2, m2))
print("speed-up (pycocotools evaluate+accumulate+summarize / whole kcv command): "
      "%.1fx with 1 thread, %.1fx with 2" % (ev / k1, ev / k2))
print("AP %.6f, AR100 %.6f; largest difference of the 12 stats: %.3g" %
      (kcv["stats"]["AP"], kcv["stats"]["AR100"], diff))
sys.exit(0 if diff <= 1e-6 else 1)
EOF
