#!/bin/bash
# kcv predict on a torchvision RetinaNet checkpoint gives torchvision's detections.
. "$KCV_TEST_SRCDIR/lib.sh"
if ! "$PY" -c "import torch, torchvision" 2>/dev/null; then
	echo "SKIP: $PY has no torch/torchvision (apt-get install python3-torch python3-torchvision)"
	exit 77
fi
"$PY" "$SRC/tests/torchvision_detections.py" make "$TMP" || { fail "making the oracle"; finish; }
export VOC_ROOT="$VOC_MINI"
expect_status 0 "kcv predict with torchvision's weights" -- "$KCV" predict \
	"$SRC/pipelines/torchvision_retinanet.json" --weights "$TMP/weights.safetensors" --json --quiet \
	--set model.classes=5 --set model.backbone.weights=none --input-tensor "$TMP/images.safetensors"
cp "$TMP/out" "$TMP/kcv.json"
"$PY" "$SRC/tests/torchvision_detections.py" compare "$TMP" "$TMP/kcv.json" &&
	pass "the same detections as torchvision" || fail "detections differ from torchvision's"
finish
