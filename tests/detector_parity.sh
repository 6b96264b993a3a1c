#!/bin/bash
# The retinanet detector against torchvision: a random retinanet_resnet50_fpn
# (v1) and retinanet_resnet50_fpn_v2 (GroupNorm heads, P6 from C5) loaded
# from their state dicts (current and pre-0.13 key names), head outputs
# within 1e-4 max relative error on 2 x 256 x 384 images, anchors equal to
# AnchorGenerator's, targets equal to Matcher + BoxCoder's (low-quality
# matches with ties), decoded boxes equal to BoxCoder.decode + clipping;
# missing, unexpected and misshapen tensors named; the label encoder's speed
# at 512 x 512 with 40 objects. Skipped (exit 77) only where torch is absent.
. "${KCV_TOP_SRCDIR:?}/tests/lib.sh"

if ! "$PY" -c "import torch, torchvision, numpy" 2>/dev/null; then
	echo "SKIP: $PY has no torch/torchvision/numpy (apt-get install python3-torch python3-torchvision)"
	exit 77
fi
TOOL="$BUILD/tests/detector_tool"
ORACLE="$SRC/tests/detector_parity.py"
if [ ! -x "$TOOL" ]; then
	echo "FAIL: $TOOL is not built (make check builds it)" >&2
	exit 1
fi

# ---- strict loading: every bad tensor is named ---------------------------------
mkdir -p "$TMP/bad"
if "$PY" "$ORACLE" errors "$TMP/bad" 2>"$TMP/py.err"; then
	E="$TMP/bad"
	expect_status 0 "small detector loads its complete state dict" -- "$TOOL" --spec "$E/spec.json" \
		--input "$E/input.safetensors" --weights "$E/good.safetensors" --out "$E/o.safetensors"
	expect_status 1 "a missing tensor" -- "$TOOL" --spec "$E/spec.json" \
		--input "$E/input.safetensors" --weights "$E/missing.safetensors" --out "$E/o.safetensors"
	expect_in "$TMP/err" "missing.safetensors: missing tensor head.classification_head.cls_logits.bias (shape [27])" \
		"names the missing tensor"
	expect_status 1 "an unexpected tensor" -- "$TOOL" --spec "$E/spec.json" \
		--input "$E/input.safetensors" --weights "$E/unexpected.safetensors" --out "$E/o.safetensors"
	expect_in "$TMP/err" "1 unexpected tensor for model: head.regression_head.extra.weight" \
		"names the unexpected tensor"
	expect_status 1 "a tensor of the wrong shape" -- "$TOOL" --spec "$E/spec.json" \
		--input "$E/input.safetensors" --weights "$E/shape.safetensors" --out "$E/o.safetensors"
	expect_in "$TMP/err" "tensor head.regression_head.bbox_reg.weight has shape [36, 8, 1, 1], expected [36, 8, 3, 3]" \
		"names the misshapen tensor"
else
	fail "error-case oracle: $(tail -3 "$TMP/py.err")"
fi

# ---- torchvision v1 and v2 ------------------------------------------------------
for v in v1 v2; do
	D="$TMP/$v"
	mkdir -p "$D"
	if ! "$PY" "$ORACLE" make "$v" "$D" >"$D/make.log" 2>"$TMP/py.err"; then
		fail "$v oracle: $(tail -3 "$TMP/py.err")"
		continue
	fi
	cat "$D/make.log"
	expect_status 0 "$v forward" -- "$TOOL" --spec "$D/spec.json" --input "$D/input.safetensors" \
		--weights "$D/weights.safetensors" --gt "$D/gt.safetensors" --out "$D/out.safetensors" \
		--threads 2 || continue
	# the anchors themselves (torchvision does not clip anchors, only boxes)
	"$PY" -c "import json,sys; s=json.load(open(sys.argv[1])); s['clip_boxes']=False; json.dump(s, open(sys.argv[2], 'w'))" \
		"$D/spec.json" "$D/spec_raw.json"
	expect_status 0 "$v anchors without clipping" -- "$TOOL" --spec "$D/spec_raw.json" \
		--input "$D/input.safetensors" --no-forward --out "$D/raw.safetensors"
	if "$PY" "$ORACLE" compare "$D" "$D/out.safetensors" "$D/raw.safetensors"; then
		pass "$v matches torchvision"
	else
		fail "$v differs from torchvision"
	fi
	if [ "$v" = v1 ]; then
		expect_status 0 "v1 with pre-0.13 key names" -- "$TOOL" --spec "$D/spec.json" \
			--input "$D/input.safetensors" --weights "$D/weights_old.safetensors" \
			--gt "$D/gt.safetensors" --out "$D/old.safetensors" --threads 2
		cmp -s "$D/out.safetensors" "$D/old.safetensors" && pass "same outputs from either key form" \
			|| fail "pre-0.13 key names load differently"
		# pipelines/torchvision_retinanet.json's model is this torchvision model
		"$PY" -c "
import json, sys
m = json.load(open(sys.argv[1]))['model']
del m['decoder']
m['classes'] = 5
m['backbone']['weights'] = 'none'
json.dump(m, open(sys.argv[2], 'w'))" "$SRC/pipelines/torchvision_retinanet.json" "$D/pipeline_model.json"
		expect_status 0 "v1 through the torchvision_retinanet pipeline's model" -- "$TOOL" \
			--spec "$D/pipeline_model.json" --input "$D/input.safetensors" \
			--weights "$D/weights.safetensors" --gt "$D/gt.safetensors" --out "$D/pipe.safetensors" \
			--threads 2
		cmp -s "$D/out.safetensors" "$D/pipe.safetensors" && pass "the pipeline's model is torchvision's" \
			|| fail "pipelines/torchvision_retinanet.json differs from the torchvision options"
	fi
	rm -f "$D"/weights*.safetensors
done

# ---- label encoder speed: KerasCV anchors at 512 x 512, 40 objects -------------
"$PY" - "$TMP" <<'PYEOF'
import json, sys
sys.path.insert(0, __import__("os").environ["KCV_TOP_SRCDIR"] + "/tests")
import numpy as np, st_io
d = sys.argv[1]
rng = np.random.default_rng(5)
xy = rng.uniform(0, 400, (40, 2))
wh = rng.uniform(8, 300, (40, 2))
boxes = np.concatenate([xy, np.minimum(xy + wh, 512)], 1).astype(np.float32)
st_io.save(f"{d}/gt40.safetensors", {"gt_boxes.0": boxes, "gt_classes.0": (np.arange(40) % 20).astype(np.float32)})
st_io.save(f"{d}/img512.safetensors", {"images": np.zeros((1, 512, 512, 3), np.float32)})
json.dump({"plugin": "retinanet", "classes": 20, "backbone": {"plugin": "resnet50"}}, open(f"{d}/keras.json", "w"))
PYEOF
if expect_status 0 "encode 40 objects at 512x512" -- "$TOOL" --spec "$TMP/keras.json" \
	--input "$TMP/img512.safetensors" --gt "$TMP/gt40.safetensors" --no-forward --bench-encode 50 \
	--out "$TMP/enc.safetensors"; then
	cat "$TMP/err"
	ms=$(sed -n 's/.*: \([0-9.]*\) ms per image/\1/p' "$TMP/err")
	awk -v ms="$ms" 'BEGIN { exit !(ms != "" && ms < 50) }' && pass "encode takes $ms ms (< 50)" \
		|| fail "encode takes ${ms:-?} ms per image"
fi
finish
