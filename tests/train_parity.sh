#!/bin/bash
# The whole training step against PyTorch (tests/train_step_parity.py): for
# two small pipelines, kcv's first 3 training steps (tests/train_tool ->
# kcv_train_trace) are rebuilt in float64 PyTorch from the pipeline's JSON:
# the augmented batch (each image a flip/transpose of its dataset image, its
# boxes transformed alike), the targets (torchvision Matcher and BoxCoder),
# the per-anchor loss weights, the detector's outputs, the losses
# (torchvision sigmoid_focal_loss and L1 with the losses section's
# normalisation), every gradient, the learning rate, the clipping and AdamW.
#   step_parity.json     the quickstart's recipe scaled down (resnet_custom
#                        with GroupNorm, P3-P5 FPN, GroupNorm heads, one anchor
#                        per location, no low-quality matches, batch mean,
#                        min_positives 1, warm-up + cosine, clipnorm 10)
#   step_parity_tv.json  torchvision conventions (3-cell anchors ratio-major
#                        h/w, offset 0, no clipping, low-quality matches, box
#                        variance), P4-P5 only, images without objects, KerasCV
#                        reductions (sum over images, divide_no_nan),
#                        non-integer gamma, clipping at every step
# Then: the trace is bit-identical run to run and on 1 or 2 threads, the
# oracle catches planted errors, and bad traces fail with a clear message.
# Skipped (exit 77) only where python3-torch is absent.
. "${KCV_TOP_SRCDIR:?}/tests/lib.sh"

TOOL="$BUILD/tests/train_tool"
ORACLE="$SRC/tests/train_step_parity.py"
if ! "$PY" -c "import torch, torchvision, numpy" 2>/dev/null; then
	echo "SKIP: $PY has no torch/torchvision/numpy (apt-get install python3-torch python3-torchvision)"
	exit 77
fi

for name in step_parity step_parity_tv; do
	pipe="$SRC/tests/pipelines/train/$name.json"
	expect_status 0 "$name: kcv trains 3 steps" -- "$TOOL" "$pipe" 3 "$TMP/$name.st" || continue
	expect_status 0 "$name: the same batches without augmentation" -- \
		"$TOOL" "$pipe" 3 "$TMP/$name.raw.st" 'data.augment=null' || continue
	if "$PY" "$ORACLE" "$pipe" "$TMP/$name.st" "$TMP/$name.raw.st" >"$TMP/$name.log" 2>&1; then
		pass "$name matches PyTorch:"
		sed 's/^/    /' "$TMP/$name.log"
	else
		fail "$name differs from PyTorch: $(grep -v Warning "$TMP/$name.log" | head -20)"
	fi
done

# determinism: run to run and across thread counts, bit for bit
pipe="$SRC/tests/pipelines/train/step_parity.json"
"$TOOL" "$pipe" 2 "$TMP/t2a.st" >/dev/null 2>&1
"$TOOL" "$pipe" 2 "$TMP/t2b.st" >/dev/null 2>&1
"$TOOL" "$pipe" 2 "$TMP/t1.st" threads=1 >/dev/null 2>&1
if "$PY" - "$TMP/t2a.st" "$TMP/t2b.st" "$TMP/t1.st" >"$TMP/det" 2>&1 <<'PYEOF'
import sys
sys.path.insert(0, __import__("os").environ["KCV_TOP_SRCDIR"] + "/tests")
import numpy as np, st_io
a, b, c = (st_io.load(p) for p in sys.argv[1:4])
assert sorted(a) == sorted(b) == sorted(c), "different tensors"
for other, what in ((b, "a second run"), (c, "1 thread")):
    bad = [k for k in a if not np.array_equal(a[k], other[k])]
    assert not bad, f"{what} differs in {len(bad)} tensors, e.g. {bad[:4]}"
print(f"{len(a)} tensors identical")
PYEOF
then
	pass "training steps are bit-identical run to run and on 1 or 2 threads ($(cat "$TMP/det"))"
else
	fail "training steps are not deterministic: $(tail -2 "$TMP/det")"
fi

# the oracle has teeth: errors planted in copies of a trace are all reported
name=step_parity
pipe="$SRC/tests/pipelines/train/$name.json"
if "$PY" "$ORACLE" --planted "$pipe" "$TMP/$name.st" >"$TMP/planted.log" 2>&1; then
	pass "the oracle reports every planted error:"
	sed 's/^/    /' "$TMP/planted.log"
else
	fail "the oracle misses planted errors: $(grep -v Warning "$TMP/planted.log" | tail -8)"
fi

# errors: one clear line naming the field
printf '{"image_size": [64, 64], "data": {"train": {"plugin": "synthetic_shapes", "size": 8}, "batch_size": 4},
  "model": {"plugin": "retinanet", "classes": 6, "min_level": 3, "max_level": 5,
            "backbone": {"plugin": "resnet_custom", "widths": [8, 8, 16, 16], "stem_width": 8,
                         "norm_groups": 4, "trainable": true}},
  "losses": {"classification": {"plugin": "focal_loss"}, "box": {"plugin": "l1_loss"}}}\n' \
	>"$TMP/noopt.json"
if expect_status 1 "a pipeline without an optimizer is refused" -- "$TOOL" "$TMP/noopt.json" 1 "$TMP/x.st"; then
	expect_in "$TMP/err" "optimizer" "the error names the optimizer section"
fi
if expect_status 1 "a model with other classes than the data is refused" -- \
	"$TOOL" "$pipe" 1 "$TMP/x.st" model.classes=5; then
	expect_in "$TMP/err" "model.classes" "the error names model.classes"
fi

finish
