#!/bin/bash
# kcv run / evaluate / predict end to end on a tiny pipeline: the files a run
# writes, --json shapes, determinism, resume (after an epoch and after Ctrl-C)
# giving bit-identical results (the backbone's batch norms and their running
# statistics included), non-finite losses, decoder swaps and errors.
. "$KCV_TEST_SRCDIR/lib.sh"
P="$SRC/tests/pipelines/train/tiny.json"
export KCV_LOG=warning

# ---- a full run -------------------------------------------------------------
expect_status 0 "kcv run trains the tiny pipeline" -- "$KCV" run "$P" --out "$TMP/a" --quiet --json
cp "$TMP/out" "$TMP/a.json"
for f in checkpoints/last.safetensors checkpoints/best.safetensors history.csv \
	predictions/detections.json; do
	[ -s "$TMP/a/$f" ] && pass "run wrote $f" || fail "run did not write $f"
done
ls "$TMP"/a/logs/train/events.out.tfevents.* >/dev/null 2>&1 && pass "TensorBoard train events" ||
	fail "no TensorBoard events in logs/train"
ls "$TMP"/a/logs/validation/events.out.tfevents.* >/dev/null 2>&1 &&
	pass "TensorBoard validation events" || fail "no TensorBoard events in logs/validation"
if "$PY" -c "import google.protobuf" 2>/dev/null; then
	"$PY" - "$TMP/a/logs" <<PYEOF && pass "TensorBoard events: losses, learning rate, metrics" || fail "TensorBoard events"
import glob, sys
sys.path.insert(0, "$SRC/tests")
import tb_read
Event = tb_read.message_classes()
tags = {}
for run in ("train", "validation"):
    for path in glob.glob(sys.argv[1] + "/" + run + "/events.out.tfevents.*"):
        for rec in tb_read.records(open(path, "rb").read(), path):
            e = Event.FromString(rec)
            for v in e.summary.value:
                tags.setdefault(run, {}).setdefault(v.tag, []).append((e.step, v.simple_value))
t, v = tags["train"], tags["validation"]
assert [s for s, _ in t["epoch_loss"]] == [1, 2], t["epoch_loss"]
assert "epoch_learning_rate" in t and "epoch_box_loss" in t and "epoch_cls_loss" in t, sorted(t)
assert [s for s, _ in v["epoch_loss"]] == [1, 2], v["epoch_loss"]
assert 0 <= v["evaluate_coco_map.AP"][0][1] <= 1 and v["evaluate_coco_map.AP"][0][0] == 2, v
PYEOF
else
	echo "SKIP: TensorBoard contents (no python3-protobuf)"
fi
n=$(ls "$TMP"/a/predictions/*.jpg 2>/dev/null | wc -l)
[ "$n" -eq 3 ] && pass "3 prediction pictures" || fail "$n prediction pictures, expected 3"
[ "$(jget "$TMP/a.json" 'len(j["history"])')" = 2 ] && pass "--json history has 2 epochs" ||
	fail "history: $(head -c 300 "$TMP/a.json")"
[ "$(jget "$TMP/a.json" 'j["stopped"]')" = completed ] && pass "stopped: completed" ||
	fail "stopped: $(jget "$TMP/a.json" 'j["stopped"]')"
ok=$(jget "$TMP/a.json" 'all(k in j["metrics"]["coco_map"] for k in ("AP","AP50","AP75","AR100")) and "AR100" in j["metrics"]["coco_recall"]')
[ "$ok" = True ] && pass "--json metrics in the evaluate shape" || fail "metrics: $(head -c 400 "$TMP/a.json")"
ok=$(jget "$TMP/a.json" 'all(r["loss"] == r["loss"] and r["val_loss"] == r["val_loss"] for r in j["history"])')
[ "$ok" = True ] && pass "finite losses" || fail "non-finite loss in history"
rows=$(tail -n +2 "$TMP/a/history.csv" | wc -l)
[ "$rows" -eq 2 ] && head -1 "$TMP/a/history.csv" | grep -q '^epoch,step,loss' && pass "history.csv has a header and 2 rows" ||
	fail "history.csv: $(cat "$TMP/a/history.csv")"
"$PY" - "$TMP/a/predictions/detections.json" <<'PYEOF' && pass "detections.json is COCO results" || fail "detections.json"
import json, sys
d = json.load(open(sys.argv[1]))
assert isinstance(d, list)
for r in d:
    assert set(r) == {"image_id", "category_id", "bbox", "score"}, r
    assert len(r["bbox"]) == 4 and r["bbox"][2] >= 0 and r["bbox"][3] >= 0
    assert 0 <= r["category_id"] < 6 and 0 <= r["score"] <= 1
PYEOF

# ---- determinism and resume -------------------------------------------------
expect_status 0 "the same run again" -- "$KCV" run "$P" --out "$TMP/b" --quiet --json
same_weights "$TMP/a/checkpoints/last.safetensors" "$TMP/b/checkpoints/last.safetensors" &&
	pass "two runs give bit-identical checkpoints" || fail "reruns differ"
# (with a constant rate: a cosine schedule spans the epochs the pipeline asks for)
C='optimizer.schedule={"type": "constant"}'
expect_status 0 "two epochs, constant rate" -- "$KCV" run "$P" --out "$TMP/c2" --quiet --set "$C"
expect_status 0 "one epoch" -- "$KCV" run "$P" --out "$TMP/c" --quiet --set "$C" --set train.epochs=1
expect_status 0 "resume for the second epoch" -- "$KCV" run "$P" --out "$TMP/c" --quiet --json \
	--set "$C" --resume "$TMP/c/checkpoints/last.safetensors"
same_weights "$TMP/c2/checkpoints/last.safetensors" "$TMP/c/checkpoints/last.safetensors" &&
	pass "1 epoch + resume == 2 epochs, bit for bit" || fail "resume after an epoch differs"
[ "$(jget "$TMP/out" 'len(j["history"])')" = 2 ] && pass "resumed history holds both epochs" ||
	fail "resumed history: $(head -c 300 "$TMP/out")"

# Ctrl-C in the middle of an epoch: checkpoint, exit 130, resume, same result
# (the signal may come before the first step: that step still runs, then it stops)
"$KCV" run "$P" --out "$TMP/d" --set train.steps_per_epoch=400 --set train.epochs=1 \
	--set predict.images=0 >"$TMP/out" 2>"$TMP/err" &
pid=$!
sleep 0.5
kill -INT $pid
wait $pid
st=$?
[ "$st" -eq 130 ] && pass "SIGINT stops with status 130" || fail "SIGINT: status $st; $(tail -c 300 "$TMP/err")"
expect_in "$TMP/err" "interrupted at step" "the interruption names the step"
expect_status 0 "resume after SIGINT" -- "$KCV" run "$P" --out "$TMP/d" --quiet \
	--set train.steps_per_epoch=400 --set train.epochs=1 --set predict.images=0 \
	--resume "$TMP/d/checkpoints/last.safetensors"
expect_status 0 "the same run uninterrupted" -- "$KCV" run "$P" --out "$TMP/e" --quiet \
	--set train.steps_per_epoch=400 --set train.epochs=1 --set predict.images=0
same_weights "$TMP/d/checkpoints/last.safetensors" "$TMP/e/checkpoints/last.safetensors" &&
	pass "interrupted + resumed == uninterrupted, bit for bit" || fail "resume after SIGINT differs"

# ---- batch norm: running statistics in the checkpoint; group norm trains too --
"$PY" - "$TMP/a/checkpoints/last.safetensors" <<PYEOF && pass "the checkpoint holds the batch norms' running statistics, moved by training" || fail "running statistics missing or never updated"
import sys
sys.path.insert(0, "$SRC/tests")
import numpy as np, st_io
t = st_io.load(sys.argv[1])
t = t[0] if isinstance(t, tuple) else t
m, v = t["layer1.0.bn1.running_mean"], t["layer1.0.bn1.running_var"]
assert np.all(np.isfinite(m)) and np.all(v > 0), (m, v)
assert np.abs(m).max() > 1e-3 and np.abs(v - 1).max() > 1e-3, "still at the initial 0 / 1"
PYEOF
expect_status 0 "the tiny pipeline with group norm in the backbone" -- "$KCV" run "$P" \
	--out "$TMP/gn" --quiet --set model.backbone.norm=group --set model.backbone.norm_groups=4 \
	--set train.epochs=1 --set predict.images=0

# ---- evaluate and predict on the checkpoint ---------------------------------
CK="$TMP/a/checkpoints/last.safetensors"
expect_status 0 "kcv evaluate --json" -- "$KCV" evaluate "$P" --weights "$CK" --json --quiet
same=$("$PY" -c "
import json,sys
a=json.load(open(sys.argv[1]))['metrics']; b=json.load(open(sys.argv[2]))['metrics']
print(a == b)" "$TMP/a.json" "$TMP/out")
[ "$same" = True ] && pass "evaluate gives the run's final metrics" || fail "evaluate differs from run"
expect_status 0 "evaluate with the decoder swapped" -- "$KCV" evaluate "$P" --weights "$CK" \
	--json --quiet --set 'model.decoder={"plugin": "soft_nms"}'
"$PY" - "$TMP/out" <<'PYEOF' && pass "soft_nms evaluation has metrics" || fail "soft_nms evaluate: $(head -c 300 "$TMP/out")"
import json, sys
j = json.load(open(sys.argv[1]))
assert 0 <= j["metrics"]["coco_map"]["AP"] <= 1
PYEOF

"$PY" - "$TMP/images.safetensors" <<PYEOF || fail "writing an input tensor"
import sys
sys.path.insert(0, "$SRC/tests")
import numpy as np, st_io
rng = np.random.default_rng(0)
st_io.save(sys.argv[1], {"images": (rng.random((3, 64, 64, 3)) * 255).astype(np.float32)})
PYEOF
expect_status 0 "predict --input-tensor --json" -- "$KCV" predict "$P" --weights "$CK" --json \
	--quiet --set model.decoder.confidence_threshold=0.0 --set model.decoder.max_detections=5 \
	--input-tensor "$TMP/images.safetensors" --out "$TMP/p"
"$PY" - "$TMP/out" <<'PYEOF' && pass "predict --json detections" || fail "predict json: $(head -c 400 "$TMP/out")"
import json, sys
d = json.load(open(sys.argv[1]))["detections"]
assert len(d) == 15, len(d)          # 5 per image with a zero threshold
for r in d:
    assert {"image", "category_id", "category", "bbox", "score"} <= set(r), r
    assert r["category"] in ("circle", "square", "triangle", "diamond", "plus", "star"), r
PYEOF
n=$(ls "$TMP"/p/*.jpg 2>/dev/null | wc -l)
[ "$n" -eq 3 ] && [ -s "$TMP/p/detections.json" ] && pass "predict --out draws 3 pictures" ||
	fail "predict --out: $n pictures"
expect_status 0 "predict with a stricter decoder" -- "$KCV" predict "$P" --weights "$CK" --json \
	--quiet --set model.decoder.confidence_threshold=0.0 --set model.decoder.max_detections=2 \
	--input-tensor "$TMP/images.safetensors"
[ "$(jget "$TMP/out" 'len(j["detections"])')" = 6 ] && pass "--set model.decoder.max_detections applies" ||
	fail "max_detections=2 gave $(jget "$TMP/out" 'len(j["detections"])')"

# JPEG files: brought to the model's size, boxes reported in the files' own pixels
expect_status 0 "export validation images as JPEG" -- "$KCV" data "$P" --split validation \
	--export-voc "$TMP/voc"
imgs=$(ls "$TMP"/voc/VOC*/JPEGImages/*.jpg | head -2)
expect_status 0 "predict on JPEG files at another model size" -- "$KCV" predict "$P" --weights "$CK" \
	--json --quiet --set 'image_size=[96, 96]' --set model.clip_boxes=true \
	--set model.decoder.confidence_threshold=0.0 \
	--set model.decoder.max_detections=20 --out "$TMP/pj" $imgs
"$PY" - "$TMP/out" <<'PYEOF' && pass "boxes in the 64x64 files' pixels" || fail "predict on files: $(head -c 400 "$TMP/out")"
import json, sys
d = json.load(open(sys.argv[1]))["detections"]
assert len(d) == 40, len(d)
assert all(r["image"].endswith(".jpg") for r in d)
for r in d:
    x, y, w, h = r["bbox"]
    assert -1e-3 <= x and -1e-3 <= y and x + w <= 64.001 and y + h <= 64.001, r
assert max(r["bbox"][0] + r["bbox"][2] for r in d) > 60  # the whole 64-pixel range is used
PYEOF
n=$(ls "$TMP"/pj/*.jpg 2>/dev/null | wc -l)
[ "$n" -eq 2 ] && pass "a picture per file" || fail "$n pictures for 2 files"

# ---- bad input -----------------------------------------------------------------
expect_status 1 "a missing checkpoint" -- "$KCV" evaluate "$P" --weights "$TMP/none.safetensors"
expect_in "$TMP/err" "none.safetensors" "the error names the file"
expect_status 1 "a checkpoint of another model" -- "$KCV" evaluate "$P" --weights "$CK" \
	--set model.fpn_channels=32
expect_in "$TMP/err" "another shape" "the error says the shapes differ"
expect_status 1 "--resume a file that is not a checkpoint" -- "$KCV" run "$P" --out "$TMP/f" \
	--resume "$TMP/images.safetensors"
expect_in "$TMP/err" "not a kcv checkpoint" "the error says what is wrong"
expect_status 1 "an unknown callback" -- "$KCV" validate "$P" --set 'train.callbacks=[{"type": "early_stop"}]'
expect_in "$TMP/err" 'train.callbacks.0.type: unknown callback "early_stop"; did you mean "early_stopping"?' \
	"the error names the path and suggests"
expect_status 1 "predict needs --weights" -- "$KCV" predict "$P" x.jpg
expect_status 1 "a monitored metric that is never computed" -- "$KCV" run "$P" --out "$TMP/g" \
	--set 'train.callbacks=[{"type": "early_stopping", "monitor": "coco_map.AP"}]'
expect_in "$TMP/err" "train.metrics_every" "the error says how to compute it"

# a learning rate that blows up: a clear message naming the step, no checkpoint after it
expect_status 1 "a diverging run stops" -- "$KCV" run "$P" --out "$TMP/h" \
	--set optimizer.type=sgd --set optimizer.learning_rate=1e9 --set optimizer.global_clipnorm=0 \
	--set 'optimizer.schedule={"type": "constant"}'
expect_in "$TMP/err" "at step" "the message names the step"
[ ! -e "$TMP/h/checkpoints/last.safetensors" ] && pass "no checkpoint of a diverged model" ||
	fail "a checkpoint was written although no epoch finished"

# ---- losses: images without objects --------------------------------------------
# objects of 1-2 pixels: no anchor reaches IoU 0.5, so no image has a positive anchor
E='--set data.train.min_size=0.02 --set data.train.max_size=0.02 --set train.epochs=1
--set train.steps_per_epoch=1 --set predict.images=0 --set evaluate.metrics=[] --set data.validation=null
--set train.callbacks=[]'
expect_status 0 "KerasCV normalisation on empty images" -- "$KCV" run "$P" --out "$TMP/k" --quiet \
	--json $E --set losses.min_positives=0 --set losses.batch_reduction=sum
[ "$(jget "$TMP/out" 'j["history"][0]["loss"]')" = 0.0 ] &&
	pass "an image without positives adds 0 (divide_no_nan)" || fail "loss $(jget "$TMP/out" 'j["history"][0]["loss"]')"
expect_status 0 "torchvision normalisation on empty images" -- "$KCV" run "$P" --out "$TMP/t" \
	--quiet --json $E
ok=$(jget "$TMP/out" '0 < j["history"][0]["loss"] < 1e6')
[ "$ok" = True ] && pass "max(1, N_pos): negatives still count, finite" || fail "loss $(jget "$TMP/out" 'j["history"][0]["loss"]')"
finish
