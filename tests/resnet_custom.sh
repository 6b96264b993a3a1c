#!/bin/bash
# resnet_custom against PyTorch: C2..C5 and the gradients of every parameter
# (group norm, basic and bottleneck blocks, the three stems, odd map sizes;
# batch norm in training mode with its running statistics after the step);
# bit-identical results for 1 and 2 threads and across runs; the random
# initialisation; resnet_custom with frozen batch norm = resnet18; option
# errors. Skipped (exit 77) only where python3-torch is absent.
. "${KCV_TOP_SRCDIR:?}/tests/lib.sh"

TOOL="$BUILD/tests/backbone_tool"
if ! "$PY" -c "import torch, torchvision, numpy" 2>/dev/null; then
	echo "SKIP: $PY has no torch/torchvision/numpy (apt-get install python3-torch python3-torchvision)"
	exit 77
fi

# compare GOT EXPECTED: C2..C5 and every grad.* of EXPECTED within tolerance
compare() {
	"$PY" - "$1" "$2" <<'PYEOF'
import sys
sys.path.insert(0, __import__("os").environ["KCV_TOP_SRCDIR"] + "/tests")
import numpy as np, st_io
got, want = st_io.load(sys.argv[1]), st_io.load(sys.argv[2])
worst = {"C": 0.0, "grad": 0.0}
for k, w in sorted(want.items()):
    g = got.get(k)
    assert g is not None, f"kcv wrote no {k}"
    assert g.shape == w.shape, (k, g.shape, w.shape)
    rel = float(np.max(np.abs(g - w)) / max(np.max(np.abs(w)), 1e-12))
    kind = "grad" if k.startswith("grad.") else "C"
    worst[kind] = max(worst[kind], rel)
    if rel > (1e-4 if kind == "C" else 1e-3):
        print(f"{k}: max relative error {rel:.2e}")
        sys.exit(1)
n = sum(k.startswith("grad.") for k in want)
print(f"C2..C5 max relative error {worst['C']:.2e}; {n} gradients, max {worst['grad']:.2e}")
PYEOF
}

for case in basic_conv3 bottleneck_conv7 basic_pool basic_batch; do
	d="$TMP/$case"
	mkdir -p "$d"
	if ! spec=$("$PY" "$SRC/tests/resnet_custom_parity.py" "$case" "$d" 2>"$TMP/py.err"); then
		fail "$case oracle: $(tail -3 "$TMP/py.err")"
		continue
	fi
	expect_status 0 "$case forward + backward" -- "$TOOL" --spec "$spec" --input "$d/input.safetensors" \
		--weights "$d/weights.safetensors" --grad "$d/r.safetensors" --out "$d/out.safetensors" --threads 2 || continue
	if compare "$d/out.safetensors" "$d/expected.safetensors" >"$TMP/cmp" 2>&1; then
		pass "$case matches PyTorch: $(tail -1 "$TMP/cmp")"
	else
		fail "$case differs from PyTorch: $(tail -3 "$TMP/cmp")"
	fi
done

# the same result, bit for bit, on 1 thread, and on 2 threads again
d="$TMP/basic_conv3"
spec=$("$PY" "$SRC/tests/resnet_custom_parity.py" basic_conv3 "$d")
for t in 1 2; do
	"$TOOL" --spec "$spec" --input "$d/input.safetensors" --weights "$d/weights.safetensors" \
		--grad "$d/r.safetensors" --out "$d/again$t.safetensors" --threads "$t" >/dev/null 2>&1
done
cmp -s "$d/out.safetensors" "$d/again1.safetensors" && pass "1 thread: bit-identical maps and gradients" \
	|| fail "1 thread gives other results than 2"
cmp -s "$d/out.safetensors" "$d/again2.safetensors" && pass "second run: bit-identical" \
	|| fail "two runs differ"

# random initialisation: He-normal (fan_out) convolutions, group norm at
# identity, the last norm of each block at 0 with zero_init_residual
init='{"plugin": "resnet_custom", "trainable": true, "zero_init_residual": true}'
expect_status 0 "random init" -- "$TOOL" --spec "$init" --input "$d/input.safetensors" --out "$TMP/init.safetensors"
"$PY" - "$TMP/init.safetensors" <<'PYEOF' && pass "init: conv std sqrt(2/(k*k*cout)), gamma 1 (0 last), beta 0" || fail "random init"
import sys
sys.path.insert(0, __import__("os").environ["KCV_TOP_SRCDIR"] + "/tests")
import numpy as np, st_io
p = st_io.load(sys.argv[1])
convs = [k for k in p if k.endswith(".weight") and p[k].ndim == 4 and "input_norm" not in k]
assert len(convs) == 2 + 8 + 3, convs  # stem 2 + 4 blocks x 2 + 3 downsamples
for k in convs:
    kh, kw, ci, co = p[k].shape
    want = np.sqrt(2.0 / (kh * kw * co))
    assert abs(p[k].std() / want - 1) < 0.15, (k, p[k].std(), want)
for k in p:
    if k.startswith("param.layer") and (".bn" in k or ".downsample.1" in k):
        last = ".bn2." in k
        v = p[k]
        if k.endswith(".weight"):
            assert np.all(v == (0.0 if last else 1.0)), k
        else:
            assert np.all(v == 0.0), k
print("ok")
PYEOF
"$TOOL" --spec "$init" --input "$d/input.safetensors" --out "$TMP/init2.safetensors" >/dev/null 2>&1
cmp -s "$TMP/init.safetensors" "$TMP/init2.safetensors" && pass "init is deterministic" || fail "init differs between runs"

# frozen batch norm, folded: resnet_custom in resnet18's shape = resnet18
mkdir -p "$TMP/r18"
if "$PY" "$SRC/tests/resnet_parity.py" resnet18 "$TMP/r18" 2>"$TMP/py.err"; then
	r18='{"plugin": "resnet_custom", "block": "basic", "depths": [2, 2, 2, 2], "widths": [64, 128, 256, 512], "stem": "conv7", "stem_width": 64, "norm": "batch_frozen", "trainable": false, "input_normalization": "none"}'
	expect_status 0 "resnet_custom as resnet18" -- "$TOOL" --spec "$r18" --input "$TMP/r18/input.safetensors" \
		--weights "$TMP/r18/weights.safetensors" --out "$TMP/r18/custom.safetensors"
	"$KCV" features --backbone resnet18 --weights "$TMP/r18/weights.safetensors" \
		--input "$TMP/r18/input.safetensors" --out "$TMP/r18/features.safetensors" --threads 2 2>/dev/null
	"$PY" - "$TMP/r18" <<'PYEOF' && pass "= resnet18's maps, bit for bit" || fail "resnet_custom differs from resnet18"
import sys
sys.path.insert(0, __import__("os").environ["KCV_TOP_SRCDIR"] + "/tests")
import numpy as np, st_io
a, b = st_io.load(sys.argv[1] + "/custom.safetensors"), st_io.load(sys.argv[1] + "/features.safetensors")
sys.exit(0 if all(np.array_equal(a[k], b[k]) for k in ["C2", "C3", "C4", "C5"]) else 1)
PYEOF
else
	fail "resnet18 oracle: $(tail -3 "$TMP/py.err")"
fi

# input normalisation (one 1x1 convolution): imagenet and caffe give the
# same maps, bit for bit, as normalising in float32 first and "none"
if [ -f "$TMP/r18/weights.safetensors" ]; then
	"$PY" - "$TMP/r18" <<'PYEOF'
import sys
sys.path.insert(0, __import__("os").environ["KCV_TOP_SRCDIR"] + "/tests")
import numpy as np, st_io
d = sys.argv[1]
x = st_io.load(d + "/input.safetensors")["images"]
f = np.float32
mean, std = [f(v) for v in (0.485, 0.456, 0.406)], [f(v) for v in (0.229, 0.224, 0.225)]
imnet = np.stack([x[..., c] * (f(1) / (f(255) * std[c])) + (-mean[c] / std[c]) for c in range(3)], -1)
bgr = [f(v) for v in (103.939, 116.779, 123.68)]
caffe = np.stack([x[..., 2 - c] - bgr[c] for c in range(3)], -1)
st_io.save(d + "/imagenet_in.safetensors", {"images": imnet.astype(np.float32)})
st_io.save(d + "/caffe_in.safetensors", {"images": caffe.astype(np.float32)})
PYEOF
	for norm in imagenet caffe; do
		"$TOOL" --spec "{\"plugin\": \"resnet18\", \"input_normalization\": \"$norm\"}" \
			--input "$TMP/r18/input.safetensors" --weights "$TMP/r18/weights.safetensors" \
			--out "$TMP/r18/$norm.safetensors" >/dev/null 2>&1
		"$TOOL" --spec '{"plugin": "resnet18", "input_normalization": "none"}' \
			--input "$TMP/r18/${norm}_in.safetensors" --weights "$TMP/r18/weights.safetensors" \
			--out "$TMP/r18/${norm}_ref.safetensors" >/dev/null 2>&1
		"$PY" - "$TMP/r18/$norm.safetensors" "$TMP/r18/${norm}_ref.safetensors" <<'PYEOF' \
			&& pass "$norm normalisation: bit-identical to normalising first" || fail "$norm normalisation differs"
import sys
sys.path.insert(0, __import__("os").environ["KCV_TOP_SRCDIR"] + "/tests")
import numpy as np, st_io
a, b = st_io.load(sys.argv[1]), st_io.load(sys.argv[2])
sys.exit(0 if all(np.array_equal(a[k], b[k]) for k in ["C2", "C3", "C4", "C5"]) else 1)
PYEOF
	done
fi

# option errors name the JSON path
bad() {
	expect_status 1 "$1" -- "$TOOL" --spec "$2" --input "$d/input.safetensors" --out "$TMP/x.safetensors"
	expect_in "$TMP/err" "$3" "$1: says \"$3\""
}
bad "widths not in groups" '{"plugin": "resnet_custom", "widths": [30, 64, 128, 256]}' \
	"model.backbone.widths: stage 1: 30 channels do not split into 8 norm groups (norm_groups)"
bad "three depths" '{"plugin": "resnet_custom", "depths": [1, 1, 1]}' "model.backbone.depths"
bad "bottleneck width" '{"plugin": "resnet_custom", "block": "bottleneck", "widths": [32, 64, 128, 250]}' \
	"bottleneck stages need widths divisible by 4"
bad "stem width" '{"plugin": "resnet_custom", "stem_width": 24}' \
	"model.backbone.stem_width: 24 channels (and half of them) do not split into 8 norm groups"
bad "unknown stem" '{"plugin": "resnet_custom", "stem": "conv5"}' "model.backbone.stem"
bad "imagenet weights" '{"plugin": "resnet_custom", "weights": "imagenet"}' \
	"there are no ImageNet weights for resnet_custom"
# weights of the wrong kind: group-norm weights for frozen batch norm
gnw="$TMP/basic_conv3/weights.safetensors"
expect_status 1 "batch-norm net, group-norm weights" -- "$TOOL" --spec \
	'{"plugin": "resnet_custom", "norm": "batch_frozen"}' --input "$d/input.safetensors" \
	--weights "$gnw" --out "$TMP/x.safetensors"
expect_in "$TMP/err" "missing tensor bn1.running_mean" "names the missing tensor"
finish
