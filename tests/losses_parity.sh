#!/bin/bash
# The loss plugins against float64 torch: focal against
# torchvision.ops.sigmoid_focal_loss (and the documented formula for label
# smoothing and probabilities), smooth L1 and L1 against their formulas, GIoU
# against torchvision's generalized_box_iou_loss on boxes torchvision's
# BoxCoder decodes; per-image losses and gradients (torch autograd) within
# 1e-5. Skipped (exit 77) only where python3-torch is absent.
. "${KCV_TOP_SRCDIR:?}/tests/lib.sh"

if ! "$PY" -c "import torch, torchvision, numpy" 2>/dev/null; then
	echo "SKIP: $PY has no torch/torchvision/numpy (apt-get install python3-torch python3-torchvision)"
	exit 77
fi
DRIVER="$BUILD/tests/check_losses"
if "$PY" "$SRC/tests/losses_parity.py" "$DRIVER" "$TMP" >"$TMP/report" 2>"$TMP/py.err"; then
	cat "$TMP/report"
	pass "losses match torch"
else
	cat "$TMP/report"
	fail "losses differ from torch: $(grep FAIL "$TMP/report" | head -3) $(tail -3 "$TMP/py.err")"
fi
finish
