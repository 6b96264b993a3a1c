#!/bin/bash
# Data-loading throughput: decode + resize + augment + batch, as `kcv data
# --bench` measures it, on the Pascal VOC subset at 512x512 (the guide's
# RandomChoice augmenter) with 1 and 2 workers, without augmentation, and on
# the quickstart's synthetic data. Run from the build tree:
#   VOC_ROOT=../shared/data/voc2007-mini/VOCdevkit bench/data.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${VOC_ROOT:=../shared/data/voc2007-mini/VOCdevkit}"
export VOC_ROOT
secs=${SECONDS_PER_RUN:-8}
echo "# $(date -u +%F) $(uname -m), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p')"
printf '%-44s %8s %8s\n' "case" "workers" "images/s"
run() {
	local label=$1
	shift
	./kcv data "$@" --bench --seconds "$secs" --json 2>/dev/null |
		/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print("%-44s %8d %8.1f" % (sys.argv[1], d["workers"], d["images_per_s"]))' "$label"
}
run "VOC 512x512, random_choice(flip,jitter,sharp)" pipelines/voc_retinanet.json --set data.workers=1
run "VOC 512x512, random_choice(flip,jitter,sharp)" pipelines/voc_retinanet.json --set data.workers=2
run "VOC 512x512, no augmentation" pipelines/voc_retinanet.json --no-augment --set data.workers=2
run "VOC 512x512, color jitter on every image" pipelines/voc_retinanet.json --set data.workers=2 \
	--set 'data.augment={"plugin": "random_color_jitter", "brightness_factor": 0.1, "contrast_factor": 0.1, "saturation_factor": 0.1, "hue_factor": 0.1}'
run "synthetic 256x256 (quickstart), flips" pipelines/quickstart.json --set data.workers=2
