#!/bin/bash
# How kcv's VOC RetinaNet (ResNet50-FPN, frozen backbone, batch 8) scales:
# time per image at 256, 512, 768 and 1024 pixels a side on 2 threads
# (linear in the pixel count means the same time per megapixel), and 1
# thread against 2 at 512: ROUNDS rounds alternating the two, the best of
# each counting (the machine is shared and noisy). Each line is one `kcv
# bench --json`, all in one run. Run from the build tree: bench/scaling.sh
#   SIZES ("256 512 768 1024") BATCH (8) STEPS (2) WARMUP (1) ROUNDS (3)
#   PRECISION (float32, or bf16)
set -euo pipefail
cd "$(dirname "$0")/.."
batch=${BATCH:-8}
steps=${STEPS:-2}
warmup=${WARMUP:-1}
shared=${KCV_SHARED_DIR:-$(cd .. && pwd)/shared}
export VOC_ROOT=${VOC_ROOT:-$shared/data/voc2007-mini/VOCdevkit}
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/kcv-scaling-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

echo "# $(date -u '+%F %H:%M') $(uname -m), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load $(cut -d' ' -f1-3 /proc/loadavg); precision ${PRECISION:-float32}"
run() { # run SIZE THREADS
	./kcv bench pipelines/voc_retinanet.json --json --steps "$steps" --warmup "$warmup" \
		--set model.backbone.weights=none --set threads="$2" --set data.batch_size="$batch" \
		--set "image_size=[$1, $1]" --set precision="${PRECISION:-float32}" | "$py" -c "import json,sys; d=json.load(sys.stdin); d['size']=$1; print(json.dumps(d))" >>"$tmp/runs.json"
}
for s in ${SIZES:-256 512 768 1024}; do run "$s" 2; done
for r in $(seq "${ROUNDS:-3}"); do
	run 512 1
	run 512 2
done

"$py" - "$tmp/runs.json" <<'EOF'
import json, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
two = [r for r in runs if r["threads"] == 2]
def best(rs, key):
    return max(rs, key=lambda r: r[key])
print("%6s %8s %14s %14s %16s %16s %9s" % ("size", "threads", "train ms/img", "infer ms/img",
      "train ms/Mpixel", "infer ms/Mpixel", "RSS MB"))
for r in runs:
    mp = r["size"] ** 2 / 1e6
    tr, inf = 1e3 / r["train_images_per_s"], 1e3 / r["inference_images_per_s"]
    print("%6d %8d %14.0f %14.0f %16.0f %16.0f %9.0f" % (r["size"], r["threads"], tr, inf,
          tr / mp, inf / mp, r["peak_rss_mb"]))
one = [r for r in runs if r["threads"] == 1]
ref = [r for r in two if r["size"] == 512]
if one and ref:
    t1, t2 = best(one, "train_images_per_s"), best(ref, "train_images_per_s")
    i1, i2 = best(one, "inference_images_per_s"), best(ref, "inference_images_per_s")
    print("best of %d runs at 512: train %.2f -> %.2f images/s (%.2fx), inference %.2f -> %.2f (%.2fx)"
          % (len(one), t1["train_images_per_s"], t2["train_images_per_s"],
             t2["train_images_per_s"] / t1["train_images_per_s"], i1["inference_images_per_s"],
             i2["inference_images_per_s"], i2["inference_images_per_s"] / i1["inference_images_per_s"]))
EOF
