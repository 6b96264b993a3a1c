#!/bin/bash
# The quickstart's training step (forward + backward of the resnet_custom
# backbone, FPN and heads, batch 16, 256x256, float32), kcv against PyTorch
# in one run: rounds alternate between the two sides, each round times
# STEPS steps after WARMUP, and the fastest step of all rounds counts (the
# machine is shared and noisy). kcv's per-op profile of its last round
# follows. Run from the build tree: bench/quickstart_step.sh
#   THREADS (2) BATCH (16) SIZE (256) STEPS (10) WARMUP (3) ROUNDS (3)
#   STEM (conv3: resnet_custom's stem; also conv7, conv3_pool)
#   NORM (batch: the quickstart's backbone norm, training mode; or group)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${THREADS:-2}
batch=${BATCH:-16}
size=${SIZE:-256}
steps=${STEPS:-10}
warmup=${WARMUP:-3}
rounds=${ROUNDS:-3}
stem=${STEM:-conv3}
norm=${NORM:-batch}
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/kcv-bench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

gcc -O2 -std=c11 -Wall -Wextra -Iinclude -o "$tmp/step" bench/quickstart_step.c -L.libs -lkcv \
	-Wl,-rpath,"$PWD/.libs" $(pkg-config --cflags --libs jansson) -lm
spec="{\"plugin\": \"resnet_custom\", \"depths\": [1, 1, 1, 1], \"widths\": [32, 64, 128, 256],
 \"stem\": \"$stem\", \"stem_width\": 32, \"norm\": \"$norm\", \"norm_groups\": 8, \"trainable\": true}"
echo "# $(date -u +%F) $(uname -m), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# batch $batch, ${size}x${size}, $threads threads, stem $stem, backbone norm $norm; best step of $rounds rounds x $steps steps"

for r in $(seq "$rounds"); do
	"$tmp/step" --threads "$threads" --batch "$batch" --size "$size" --steps "$steps" \
		--warmup "$warmup" --backbone "$spec" --plugins plugins/backbone \
		$([ "$r" = "$rounds" ] && echo --profile) >>"$tmp/kcv.json" 2>"$tmp/profile.txt"
	OMP_NUM_THREADS=$threads MALLOC_MMAP_THRESHOLD_=17179869184 MALLOC_TRIM_THRESHOLD_=17179869184 \
		MALLOC_TOP_PAD_=1073741824 "$py" bench/quickstart_step_torch.py "$threads" "$batch" "$size" \
		"$steps" "$warmup" "$stem" "$norm" >>"$tmp/torch.json"
done

"$py" - "$tmp/kcv.json" "$tmp/torch.json" <<'EOF'
import json, sys
sides = []
for path in sys.argv[1:]:
    runs = [json.loads(line) for line in open(path) if line.strip()]
    best = min(runs, key=lambda d: d["best_ms"])
    sides.append((best, [d["best_ms"] for d in runs]))
(k, kr), (t, tr) = sides
print("%-22s %9s %9s %11s %12s %10s  %s" % ("side", "step ms", "fwd ms", "bwd ms", "images/s",
                                          "median ms", "best of each round"))
for name, d, rr in (("kcv", k, kr), ("PyTorch " + t["version"], t, tr)):
    print("%-22s %9.1f %9.1f %11.1f %12.1f %10.1f  %s" % (name, d["best_ms"], d["forward_ms"],
          d["backward_ms"], d["images_per_s"], d["median_ms"], " ".join("%.1f" % x for x in rr)))
print("kcv / PyTorch speed: %.2fx (%.2f GFLOP forward per step)" % (t["best_ms"] / k["best_ms"],
      k["forward_gflop"]))
EOF
echo "# kcv per-op profile, last round ($steps steps):"
cat "$tmp/profile.txt"
