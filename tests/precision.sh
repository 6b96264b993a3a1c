#!/bin/bash
# precision "bf16" from the pipeline to the model: kcv bench and kcv run in
# bfloat16, bit-identical reruns, a bf16 run close to the float32 one, the
# one-line warning and float32 where the CPU lacks bfloat16 units (oneDNN told
# so by DNNL_MAX_CPU_ISA) or the build lacks oneDNN, and the error for an
# unknown precision. The numerics are tests/check_bf16's.
. "$KCV_TEST_SRCDIR/lib.sh"
P="$SRC/tests/pipelines/train/tiny.json"
# 64 FPN channels: the head's convolutions are big enough for bfloat16 (the
# rest of the tiny network stays float32, see conv2d_bf16.c)
W=(--set model.fpn_channels=64)
export KCV_LOG=warning

# ---- an unknown precision ---------------------------------------------------------
expect_status 1 "precision \"fp16\" is an error" -- "$KCV" validate "$P" --set precision=fp16
expect_in "$TMP/err" "precision" "the error names the field"
expect_in "$TMP/err" "bf16" "the error lists the choices"
[ "$(wc -l <"$TMP/err")" -eq 1 ] && pass "one line" || fail "more than one line: $(cat "$TMP/err")"

# ---- no bfloat16 units: float32 with one warning ----------------------------------
expect_status 0 "bench with bf16 on a CPU without bfloat16 units" -- \
	env DNNL_MAX_CPU_ISA=AVX512_CORE "$KCV" bench "$P" --set precision=bf16 --steps 1 --warmup 0 --json
expect_in "$TMP/err" "precision \"bf16\"" "the warning names the setting"
expect_in "$TMP/err" "running in float32" "the warning says what runs instead"
[ "$(grep -c 'running in float32' "$TMP/err")" -eq 1 ] && pass "warned once" ||
	fail "warned $(grep -c 'running in float32' "$TMP/err") times"
[ "$(jget "$TMP/out" 'j["precision"]')" = float32 ] && pass "bench reports float32" ||
	fail "bench reports $(cat "$TMP/out")"

# ---- bf16 where it runs ----------------------------------------------------------------
expect_status 0 "bench in bf16" -- "$KCV" bench "$P" --set precision=bf16 --steps 1 --warmup 0 --json
if [ "$(jget "$TMP/out" 'j["precision"]')" != bf16 ]; then
	echo "skipped: no bfloat16 here: $(cat "$TMP/err")"
	finish
fi
[ -s "$TMP/err" ] && fail "bf16 bench wrote to stderr: $(cat "$TMP/err")" || pass "no warning"

expect_status 0 "kcv run in bf16" -- "$KCV" run "$P" "${W[@]}" --set precision=bf16 --out "$TMP/h1" --quiet --json
expect_status 0 "kcv run in bf16 again" -- "$KCV" run "$P" "${W[@]}" --set precision=bf16 --out "$TMP/h2" --quiet --json
same_weights "$TMP/h1/checkpoints/last.safetensors" "$TMP/h2/checkpoints/last.safetensors" &&
	pass "bf16 reruns give bit-identical weights" || fail "bf16 reruns differ"
expect_status 0 "kcv run in float32" -- "$KCV" run "$P" "${W[@]}" --out "$TMP/f" --quiet --json
same_weights "$TMP/h1/checkpoints/last.safetensors" "$TMP/f/checkpoints/last.safetensors" \
	2>/dev/null && fail "the bf16 run equals the float32 one (bf16 did not run)" ||
	pass "bf16 is not float32"
# the losses of the last epoch: bfloat16 moves them a little
"$PY" - "$TMP/h1/history.csv" "$TMP/f/history.csv" <<'PYEOF' && pass "bf16 and float32 losses agree" || fail "bf16 and float32 losses differ"
import csv, math, sys
def last(path):
    rows = list(csv.DictReader(open(path)))
    return {k: float(v) for k, v in rows[-1].items() if "loss" in k and v not in ("", None)}
h, f = last(sys.argv[1]), last(sys.argv[2])
assert h and h.keys() == f.keys(), (h, f)
for k in h:
    assert math.isfinite(h[k]), (k, h[k])
    rel = abs(h[k] - f[k]) / max(abs(f[k]), 1e-6)
    print(k, h[k], f[k], rel)
    # the training losses average 8 steps; the validation ones follow a few
    # steps' drift through the batch norms' running statistics
    assert rel < (0.15 if k.startswith("val") else 0.05), (k, h[k], f[k])
PYEOF
finish
