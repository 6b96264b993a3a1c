#!/bin/bash
# kcv against PyTorch on the VOC RetinaNet (ResNet50-FPN, frozen backbone,
# 512x512, batch 8), both sides in one run: `kcv bench
# pipelines/voc_retinanet.json` (VOC images from the shared sample, random
# weights: speed does not depend on them) and bench/compare_torch.py
# (torchvision's RetinaNet with FrozenBatchNorm2d, the same threads, glibc
# malloc told to keep freed memory; float32 in both memory layouts, the
# faster counting for each measure; bf16 autocast). Prints a table: train
# and inference images/s (decoder included), achieved GFLOP/s (the work
# counted by kcv's graphs, the same model on both sides), share of the
# float32 peak, peak RSS. Run from the build tree: bench/compare.sh
#   THREADS (2) BATCH (8) SIZE (512) STEPS (3) WARMUP (1)
#   PEAK_GFLOPS (430: 2 cores x 2 FMA units x 16 float32 lanes x 2 x ~3.4 GHz)
#   TORCH_BF16 (1: also time PyTorch's bf16 autocast)
#   KCV_BF16 (1: also time kcv's precision "bf16")
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${THREADS:-2}
batch=${BATCH:-8}
size=${SIZE:-512}
steps=${STEPS:-3}
warmup=${WARMUP:-1}
peak=${PEAK_GFLOPS:-430}
shared=${KCV_SHARED_DIR:-$(cd .. && pwd)/shared}
export VOC_ROOT=${VOC_ROOT:-$shared/data/voc2007-mini/VOCdevkit}
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/kcv-compare-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

echo "# $(date -u '+%F %H:%M') $(uname -m), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# RetinaNet-R50-FPN, frozen backbone, ${size}x${size}, batch $batch, $threads threads; best of $steps steps after $warmup"

./kcv bench pipelines/voc_retinanet.json --json --steps "$steps" --warmup "$warmup" \
	--set model.backbone.weights=none --set threads="$threads" --set data.batch_size="$batch" \
	--set "image_size=[$size, $size]" >"$tmp/kcv.json"
echo '{}' >"$tmp/kcv_bf16.json"
if [ "${KCV_BF16:-1}" = 1 ]; then
	./kcv bench pipelines/voc_retinanet.json --json --steps "$steps" --warmup "$warmup" \
		--set model.backbone.weights=none --set threads="$threads" --set data.batch_size="$batch" \
		--set "image_size=[$size, $size]" --set precision=bf16 >"$tmp/kcv_bf16.json"
fi

export OMP_NUM_THREADS=$threads MALLOC_MMAP_THRESHOLD_=17179869184 \
	MALLOC_TRIM_THRESHOLD_=17179869184 MALLOC_TOP_PAD_=1073741824
runs="fp32:channels_last fp32:contiguous"
[ "${TORCH_BF16:-1}" = 1 ] && runs="$runs bf16:channels_last"
for r in $runs; do
	"$py" -W ignore bench/compare_torch.py "$threads" "$batch" "$size" "$steps" "$warmup" \
		"${r%%:*}" "${r#*:}" 20 >>"$tmp/torch.json"
done

"$py" - "$tmp/kcv.json" "$tmp/torch.json" "$peak" "$tmp/kcv_bf16.json" <<'EOF'
import json, sys
k = json.load(open(sys.argv[1]))
torch = [json.loads(line) for line in open(sys.argv[2]) if line.strip()]
peak = float(sys.argv[3])
kb = json.load(open(sys.argv[4]))
train_gf, infer_gf = k["train_gflop_per_image"], k["forward_gflop_per_image"]
rows = [("kcv float32", k["train_images_per_s"], k["inference_images_per_s"], k["peak_rss_mb"], "")]
if kb.get("precision") == "bf16":
    rows.append(("kcv bf16", kb["train_images_per_s"], kb["inference_images_per_s"],
                 kb["peak_rss_mb"], "oneDNN"))
for prec in ("fp32", "bf16"):
    runs = [t for t in torch if t["precision"] == prec]
    if not runs:
        continue
    tr = max(runs, key=lambda t: t["train_images_per_s"])
    inf = max(runs, key=lambda t: t["inference_images_per_s"])
    rows.append(("PyTorch %s %s" % (runs[0]["version"], "float32" if prec == "fp32" else "bf16 autocast"),
                 tr["train_images_per_s"], inf["inference_images_per_s"],
                 max(t["peak_rss_mb"] for t in runs),
                 "train %s, inference %s" % (tr["layout"], inf["layout"])))
print("GFLOP per image (kcv's graphs): train step %.1f, inference %.1f; float32 peak %.0f GFLOP/s"
      % (train_gf, infer_gf, peak))
print("%-32s %9s %9s %7s %9s %9s %7s %9s  %s" % ("side", "train/s", "GFLOP/s", "peak", "infer/s",
      "GFLOP/s", "peak", "RSS MB", "notes"))
for name, tr, inf, rss, note in rows:
    print("%-32s %9.2f %9.1f %6.0f%% %9.2f %9.1f %6.0f%% %9.0f  %s" % (
        name, tr, tr * train_gf, 100 * tr * train_gf / peak, inf, inf * infer_gf,
        100 * inf * infer_gf / peak, rss, note))
byname = {r[0]: r for r in rows}
for r in rows:
    if not r[0].startswith("PyTorch"):
        continue
    mine = byname["kcv bf16"] if "bf16" in r[0] and "kcv bf16" in byname else rows[0]
    print("%s / %s: train %.2fx, inference %.2fx, peak RSS %.2fx" % (
        mine[0], r[0], mine[1] / r[1], mine[2] / r[2], mine[3] / r[3]))
EOF
