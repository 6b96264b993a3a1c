#!/bin/bash
# The decoder plugins against torchvision: its RetinaNet postprocess
# sequence (score > 0.05 and top k per level, clip, batched_nms, keep 300)
# and variants, KerasCV's one-class-per-anchor per-class NMS built from
# torchvision.ops.nms, class-agnostic NMS with remove_small_boxes, and a
# numpy Soft-NMS; the same detections in the same order. Skipped (exit 77)
# only where python3-torch is absent.
. "${KCV_TOP_SRCDIR:?}/tests/lib.sh"

if ! "$PY" -c "import torch, torchvision, numpy" 2>/dev/null; then
	echo "SKIP: $PY has no torch/torchvision/numpy (apt-get install python3-torch python3-torchvision)"
	exit 77
fi
DRIVER="$BUILD/tests/check_decoders"
if "$PY" "$SRC/tests/decoders_parity.py" "$DRIVER" "$TMP" >"$TMP/report" 2>"$TMP/py.err"; then
	cat "$TMP/report"
	pass "decoders match torchvision and the Soft-NMS oracle"
else
	cat "$TMP/report"
	fail "decoders differ: $(grep FAIL "$TMP/report" | head -3) $(tail -3 "$TMP/py.err")"
fi
finish
