#!/bin/bash
# The kcv program: help, version, plugins, validate, argument errors.
. "${KCV_TOP_SRCDIR:?}/tests/lib.sh"

expect_status 0 "--help" -- "$KCV" --help && expect_in "$TMP/out" "Usage: kcv COMMAND" "--help text"
expect_in "$TMP/out" "data PIPELINE.json" "--help lists data"
expect_status 0 "--version" -- "$KCV" --version && expect_in "$TMP/out" "kcv 0." "--version text"
expect_status 1 "no command" -- "$KCV"
expect_status 1 "unknown command" -- "$KCV" trian
expect_in "$TMP/err" 'unknown command "trian"' "unknown command message"
[ "$(wc -l <"$TMP/err")" -eq 1 ] && pass "one-line error" || fail "error is not one line"

# plugins --json: valid JSON, every plugin with kind, name, version, file and documented options
expect_status 0 "plugins --json" -- "$KCV" plugins --json
"$PY" - "$TMP/out" <<'PYEOF' && pass "plugins --json content" || fail "plugins --json content"
import json, sys
doc = json.load(open(sys.argv[1]))
got = {(p["kind"], p["name"]) for p in doc["plugins"]}
want = {("dataset", "pascal_voc"), ("dataset", "synthetic_shapes"), ("augmenter", "random_flip"),
        ("augmenter", "random_color_jitter"), ("augmenter", "random_sharpness"),
        ("augmenter", "random_choice"), ("augmenter", "sequence"), ("augmenter", "jittered_resize"), ("augmenter", "random_crop")}
assert want <= got, want - got
for p in doc["plugins"]:
    assert p["version"] and p["file"].endswith(".so"), p
    for o in p["options"]:
        assert o["type"] in ("boolean", "integer", "number", "string", "enum", "number[]",
                             "integer[]", "string[]", "json"), o
        assert o["doc"], (p["name"], o["name"])
        assert "default" in o
voc = [p for p in doc["plugins"] if p["name"] == "pascal_voc"][0]
root = [o for o in voc["options"] if o["name"] == "root"][0]
assert root["required"] is True
PYEOF
expect_status 0 "plugins (text)" -- "$KCV" plugins
expect_in "$TMP/out" "random_flip" "plugins text lists random_flip"

# validate
export VOC_ROOT="$VOC_MINI"
# (no ImageNet weights here: validate names the missing file, then runs without them)
expect_status 1 "validate voc_retinanet without ImageNet weights" -- env KCV_WEIGHTS_DIR="$TMP/none" \
	"$KCV" validate "$SRC/pipelines/voc_retinanet.json"
expect_in "$TMP/err" "model.backbone.weights: ImageNet weights for resnet50 not found: place resnet50_imagenet.safetensors" \
	"the error says which file to place"
expect_status 0 "validate voc_retinanet" -- "$KCV" validate "$SRC/pipelines/voc_retinanet.json" \
	--set model.backbone.weights=none
expect_in "$TMP/err" "train: 48 images, validation: 24 images" "validate summary"
expect_status 0 "validate quickstart" -- "$KCV" validate "$SRC/pipelines/quickstart.json"
expect_status 0 "validate with --set" -- "$KCV" validate "$SRC/pipelines/voc_retinanet.json" --set data.batch_size=2 --set=seed=5 \
	--set model.backbone.weights=none
unset VOC_ROOT
expect_status 1 "validate without VOC_ROOT" -- "$KCV" validate "$SRC/pipelines/voc_retinanet.json"
expect_in "$TMP/err" "data.train.root: environment variable VOC_ROOT is not set" "VOC_ROOT message"
export VOC_ROOT="$VOC_MINI"

# argument errors
expect_status 1 "validate without a file" -- "$KCV" validate
expect_status 1 "data without an action" -- "$KCV" data "$SRC/pipelines/quickstart.json"
expect_in "$TMP/err" "give exactly one of" "data action message"
expect_status 1 "data --show without --out" -- "$KCV" data "$SRC/pipelines/quickstart.json" --show 4
expect_status 1 "data --show bad count" -- "$KCV" data "$SRC/pipelines/quickstart.json" --show lots --out x.jpg
expect_status 1 "data bad split" -- "$KCV" data "$SRC/pipelines/quickstart.json" --split dev --stats
expect_status 1 "data missing split" -- "$KCV" data "$SRC/pipelines/quickstart.json" --split test --stats
expect_in "$TMP/err" 'no "test" split (it has: train, validation)' "missing split message"
expect_status 1 "missing pipeline file" -- "$KCV" validate "$TMP/nope.json"
expect_in "$TMP/err" "nope.json: cannot open: No such file or directory" "missing file message"
expect_status 0 "data --help" -- "$KCV" data --help
finish
