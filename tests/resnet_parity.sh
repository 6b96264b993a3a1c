#!/bin/bash
# kcv features against torchvision: random ResNet-18 and ResNet-50 with
# non-trivial batch-norm statistics, an odd input size, C2..C5 within 1e-4
# max relative error. Skipped (exit 77) only where python3-torch is absent.
. "${KCV_TOP_SRCDIR:?}/tests/lib.sh"

if ! "$PY" -c "import torch, torchvision, numpy" 2>/dev/null; then
	echo "SKIP: $PY has no torch/torchvision/numpy (apt-get install python3-torch python3-torchvision)"
	exit 77
fi
for arch in resnet18 resnet50; do
	mkdir -p "$TMP/$arch"
	if ! "$PY" "$SRC/tests/resnet_parity.py" "$arch" "$TMP/$arch" 2>"$TMP/py.err"; then
		fail "$arch oracle: $(tail -3 "$TMP/py.err")"
		continue
	fi
	expect_status 0 "$arch features" -- "$KCV" features --backbone "$arch" \
		--weights "$TMP/$arch/weights.safetensors" --input "$TMP/$arch/input.safetensors" \
		--out "$TMP/$arch/out.safetensors" --threads 2
	"$PY" - "$TMP/$arch" <<'PYEOF' && pass "$arch C2..C5 match torchvision" || fail "$arch differs from torchvision"
import sys
sys.path.insert(0, __import__("os").environ["KCV_TOP_SRCDIR"] + "/tests")
import numpy as np, st_io
d = sys.argv[1]
got, want = st_io.load(d + "/out.safetensors"), st_io.load(d + "/expected.safetensors")
ok = True
for k in ["C2", "C3", "C4", "C5"]:
    g, w = got[k], want[k]
    assert g.shape == w.shape, (k, g.shape, w.shape)
    rel = float(np.max(np.abs(g - w)) / np.max(np.abs(w)))
    print(f"{k} {tuple(g.shape)} max relative error {rel:.2e}")
    ok &= rel <= 1e-4
sys.exit(0 if ok else 1)
PYEOF
done
# the trainable graph (batch norm as an op, not folded) gives the same maps
expect_status 0 "resnet18 unfolded" -- "$KCV" features --backbone resnet18 --unfolded \
	--weights "$TMP/resnet18/weights.safetensors" --input "$TMP/resnet18/input.safetensors" \
	--out "$TMP/resnet18/unfolded.safetensors" --threads 2
"$PY" - "$TMP/resnet18" <<'PYEOF' && pass "unfolded = folded = torchvision" || fail "unfolded batch norm differs"
import sys
sys.path.insert(0, __import__("os").environ["KCV_TOP_SRCDIR"] + "/tests")
import numpy as np, st_io
d = sys.argv[1]
got, want = st_io.load(d + "/unfolded.safetensors"), st_io.load(d + "/expected.safetensors")
rel = max(float(np.max(np.abs(got[k] - want[k])) / np.max(np.abs(want[k]))) for k in want)
print(f"unfolded max relative error {rel:.2e}")
sys.exit(0 if rel <= 1e-4 else 1)
PYEOF
# the same input, weights and threads give bit-identical maps
expect_status 0 "resnet18 again" -- "$KCV" features --backbone resnet18 \
	--weights "$TMP/resnet18/weights.safetensors" --input "$TMP/resnet18/input.safetensors" \
	--out "$TMP/resnet18/again.safetensors" --threads 2
cmp -s "$TMP/resnet18/out.safetensors" "$TMP/resnet18/again.safetensors" \
	&& pass "bit-identical on a second run" || fail "two runs differ"
# ImageNet weights that are not there: the error says what to place where
mkdir -p "$TMP/emptyweights"
KCV_WEIGHTS_DIR="$TMP/emptyweights" expect_status 1 "imagenet weights missing" -- "$KCV" features \
	--backbone resnet50 --weights imagenet --input "$TMP/resnet18/input.safetensors" --out "$TMP/y.safetensors"
expect_in "$TMP/err" "place resnet50_imagenet.safetensors" "says which file"
expect_in "$TMP/err" "$TMP/emptyweights" "says where"
expect_in "$TMP/err" 'set weights to "none"' "says the alternative"
# ImageNet weights that are there are used (a file with torchvision names)
cp "$TMP/resnet18/weights.safetensors" "$TMP/emptyweights/resnet18_imagenet.safetensors"
KCV_WEIGHTS_DIR="$TMP/emptyweights" expect_status 0 "imagenet weights found" -- "$KCV" features \
	--backbone resnet18 --weights imagenet --input "$TMP/resnet18/input.safetensors" --out "$TMP/resnet18/in1k.safetensors"
cmp -s "$TMP/resnet18/in1k.safetensors" "$TMP/resnet18/out.safetensors" && pass "same maps as --weights FILE" \
	|| fail "imagenet weights not used"

# bad inputs: a wrong architecture for the weights, a missing tensor
expect_status 1 "resnet34 with resnet18 weights" -- "$KCV" features --backbone resnet34 \
	--weights "$TMP/resnet18/weights.safetensors" --input "$TMP/resnet18/input.safetensors" \
	--out "$TMP/x.safetensors"
expect_in "$TMP/err" "weights.safetensors" "error names the weights file"
expect_status 1 "input without images" -- "$KCV" features --backbone resnet18 \
	--input "$TMP/resnet18/weights.safetensors" --out "$TMP/x.safetensors"
expect_in "$TMP/err" 'no tensor "images"' "missing images message"
[ ! -e "$TMP/x.safetensors" ] && pass "no output on error" || fail "partial output written"
finish
