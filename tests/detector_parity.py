"""Oracle for the retinanet detector plugin: a randomly initialised
torchvision RetinaNet (v1: retinanet_resnet50_fpn; v2: retinanet_resnet50_fpn_v2,
GroupNorm heads and P6 from C5) with non-trivial batch-norm statistics and
random biases, run on a random input with torchvision's resize bypassed.

    detector_parity.py make VARIANT DIR
        writes DIR/spec.json (the kcv model spec with torchvision's options),
        DIR/weights.safetensors (the state dict), DIR/weights_old.safetensors
        (the same with pre-0.13 key names, v1 only), DIR/input.safetensors
        (images, N,H,W,3 0..255), DIR/gt.safetensors (gt_boxes.K, gt_classes.K)
        and DIR/expected.safetensors (class_logits, box_deltas, anchors, and
        torchvision's Matcher + BoxCoder targets: target_classes.K, box_targets.K)
    detector_parity.py errors DIR
        writes DIR/spec.json (a small detector), DIR/input.safetensors and its
        state dict DIR/good.safetensors with broken copies missing.safetensors,
        unexpected.safetensors and shape.safetensors
    detector_parity.py compare DIR OUT.safetensors [ANCHORS.safetensors]
        compares kcv's output (and, if given, the anchors of a build with
        clip_boxes false) with the expectation; prints the errors."""
import json
import math
import sys

import numpy as np
import torch
import torchvision
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import boxes as box_ops

sys.path.insert(0, sys.path[0])
import st_io  # noqa: E402

N, H, W, CLASSES = 2, 256, 384, 5

# ground truth sets (xyxy pixels, classes): a mix of sizes, one tiny object
# (low-quality matches only), one exactly on an anchor, overlapping objects
GT_SETS = [
    ([[10, 20, 110, 90], [200, 40, 260, 200], [300.5, 150.25, 318.75, 161], [40, 160, 360, 250],
      [205, 45, 255, 190]], [0, 1, 2, 3, 4]),
    ([[-23, -11, 23, 11], [104, 88, 136, 120], [1, 1, 4, 3]], [4, 0, 2]),
    ([[0, 0, 384, 256]], [1]),
]


def spec(variant):
    s = {
        "plugin": "retinanet", "classes": CLASSES,
        "backbone": {"plugin": "resnet50", "weights": "none", "trainable": False,
                     "input_normalization": "imagenet", "bn_eps": 1e-5},
        "min_level": 3, "max_level": 7, "fpn_channels": 256, "head_convs": 4,
        "p6_input": "p5", "extra_padding": "symmetric", "head_init": "normal",
        "anchor_sizes": [32, 64, 128, 256, 512],
        "anchor_scales": [1, 2 ** (1 / 3), 2 ** (2 / 3)], "anchor_ratios": [0.5, 1, 2],
        "ratio_definition": "h/w", "anchor_order": "ratio_major", "anchor_offset": 0,
        "anchor_clip": False, "anchor_rounding": "torchvision",
        "box_coding": "center", "box_variance": [1, 1, 1, 1], "decode_clamp": math.log(1000 / 16),
        "clip_boxes": True, "positive_iou": 0.5, "negative_iou": 0.4, "low_quality_matches": True,
    }
    if variant == "v2":
        s.update({"p6_input": "c5", "head_norm": "group", "head_norm_groups": 32})
    return s


def randomise(model):
    """Non-trivial statistics and biases; head kernels large enough that the
    four head convolutions do not wash the signal out."""
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
            elif isinstance(m, torch.nn.GroupNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
            elif isinstance(m, torch.nn.Conv2d) and not name.startswith("backbone.body"):
                fan_in = m.weight[0].numel()
                m.weight.normal_(0, math.sqrt(2.0 / fan_in))
                if m.bias is not None:
                    m.bias.uniform_(-0.2, 0.2)


def old_names(state):
    """torchvision < 0.13 key names (what the official v1 checkpoint has)."""
    out = {}
    for k, v in state.items():
        parts = k.split(".")
        if k.startswith("backbone.fpn.") and parts[2] in ("inner_blocks", "layer_blocks"):
            assert parts[4] == "0", k
            k = ".".join(parts[:4] + parts[5:])
        elif k.startswith("head.") and parts[2] == "conv":
            assert parts[4] == "0", k
            k = ".".join(parts[:3] + [str(2 * int(parts[3]))] + parts[5:])
        out[k] = v
    return out


def make(variant, out_dir):
    torch.manual_seed(11 if variant == "v1" else 12)
    torch.set_num_threads(2)
    ctor = {"v1": torchvision.models.detection.retinanet_resnet50_fpn,
            "v2": torchvision.models.detection.retinanet_resnet50_fpn_v2}[variant]
    model = ctor(weights=None, weights_backbone=None, num_classes=CLASSES).eval()
    randomise(model)
    state = {k: v.numpy() for k, v in model.state_dict().items() if v.dtype == torch.float32}
    st_io.save(f"{out_dir}/weights.safetensors", state)
    if variant == "v1":
        st_io.save(f"{out_dir}/weights_old.safetensors", old_names(state))
    with open(f"{out_dir}/spec.json", "w") as f:
        json.dump(spec(variant), f, indent=1)

    images = torch.rand(N, H, W, 3) * 255
    st_io.save(f"{out_dir}/input.safetensors", {"images": images.numpy()})
    x = images.permute(0, 3, 1, 2) / 255.0
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (x - mean) / std  # GeneralizedRCNNTransform's normalisation, no resize
    with torch.no_grad():
        feats = list(model.backbone(x).values())
        out = model.head(feats)
        anchors = model.anchor_generator(ImageList(x, [(H, W)] * N), feats)[0]
    exp = {"class_logits": out["cls_logits"].numpy(), "box_deltas": out["bbox_regression"].numpy(),
           "anchors": anchors.numpy(),
           "level_anchors": np.array([f.shape[2] * f.shape[3] * 9 for f in feats], np.float32)}
    gt = {}
    for k, (boxes, classes) in enumerate(GT_SETS):
        b = torch.tensor(boxes, dtype=torch.float32)
        c = torch.tensor(classes, dtype=torch.int64)
        gt[f"gt_boxes.{k}"] = b.numpy()
        gt[f"gt_classes.{k}"] = c.float().numpy()
        matched = model.proposal_matcher(box_ops.box_iou(b, anchors))
        cls = torch.where(matched >= 0, c[matched.clamp(min=0)], matched)
        tgt = torch.zeros(anchors.shape[0], 4)
        fg = matched >= 0
        tgt[fg] = model.box_coder.encode_single(b[matched[fg]], anchors[fg])
        exp[f"target_classes.{k}"] = cls.float().numpy()
        exp[f"box_targets.{k}"] = tgt.numpy()
        print(f"gt set {k}: {int(fg.sum())} positives, {int((matched == -2).sum())} ignored")
    st_io.save(f"{out_dir}/gt.safetensors", gt)
    st_io.save(f"{out_dir}/expected.safetensors", exp)


def make_errors(out_dir):
    """A small detector (ResNet-18, P3..P5, 8 channels, one head conv) with a
    complete state dict and three broken copies: a tensor missing, one
    unexpected, one of the wrong shape."""
    torch.manual_seed(13)
    body = torchvision.models.resnet18(weights=None).state_dict()
    state = {f"backbone.body.{k}": v.numpy() for k, v in body.items()
             if v.dtype == torch.float32 and not k.startswith("fc.")}
    ch, cin = 8, {0: 128, 1: 256, 2: 512}

    def conv(key, cout, cin_, k):
        state[f"{key}.weight"] = np.random.randn(cout, cin_, k, k).astype(np.float32)
        state[f"{key}.bias"] = np.random.randn(cout).astype(np.float32)

    for i in range(3):
        conv(f"backbone.fpn.inner_blocks.{i}.0", ch, cin[i], 1)
        conv(f"backbone.fpn.layer_blocks.{i}.0", ch, ch, 3)
    conv("head.classification_head.conv.0.0", ch, ch, 3)
    conv("head.classification_head.cls_logits", 9 * 3, ch, 3)
    conv("head.regression_head.conv.0.0", ch, ch, 3)
    conv("head.regression_head.bbox_reg", 9 * 4, ch, 3)
    st_io.save(f"{out_dir}/good.safetensors", state)
    broken = dict(state)
    del broken["head.classification_head.cls_logits.bias"]
    st_io.save(f"{out_dir}/missing.safetensors", broken)
    broken = dict(state)
    broken["head.regression_head.extra.weight"] = np.zeros(3, np.float32)
    st_io.save(f"{out_dir}/unexpected.safetensors", broken)
    broken = dict(state)
    broken["head.regression_head.bbox_reg.weight"] = np.zeros((9 * 4, ch, 1, 1), np.float32)
    st_io.save(f"{out_dir}/shape.safetensors", broken)
    small = {"plugin": "retinanet", "classes": 3,
             "backbone": {"plugin": "resnet18", "input_normalization": "imagenet"},
             "min_level": 3, "max_level": 5, "fpn_channels": ch, "head_convs": 1}
    with open(f"{out_dir}/spec.json", "w") as f:
        json.dump(small, f)
    st_io.save(f"{out_dir}/input.safetensors", {"images": np.random.rand(1, 64, 96, 3).astype(np.float32) * 255})


def rel_err(got, want):
    assert got.shape == want.shape, (got.shape, want.shape)
    return float(np.max(np.abs(got.astype(np.float64) - want)) / max(np.max(np.abs(want)), 1e-30))


def compare(out_dir, out_file, raw_file=None):
    got, want = st_io.load(out_file), st_io.load(f"{out_dir}/expected.safetensors")
    ok = True

    def check(what, value, limit):
        nonlocal ok
        good = value <= limit
        ok &= good
        print(f"{'ok' if good else 'FAIL'}: {what} {value:.2e} (limit {limit:.0e})")

    for k in ("class_logits", "box_deltas"):
        check(f"{k} {tuple(want[k].shape)} max relative error", rel_err(got[k], want[k]), 1e-4)
    clipped = box_ops.clip_boxes_to_image(torch.from_numpy(want["anchors"].copy()), (H, W)).numpy()
    check("anchors (zero deltas decoded and clipped) max abs error (px)",
          float(np.max(np.abs(got["anchors"] - clipped))), 1e-4)
    if raw_file:
        raw = st_io.load(raw_file)["anchors"]
        check(f"anchors {tuple(raw.shape)} (clip_boxes false) max abs error (px)",
              float(np.max(np.abs(raw - want["anchors"]))), 1e-4)
    check("level anchor counts differ", float(np.sum(got["level_anchors"] != want["level_anchors"])), 0)
    # the box coder's decode, on kcv's own deltas, against torchvision's
    coder = torchvision.models.detection._utils.BoxCoder((1.0, 1.0, 1.0, 1.0))
    anchors = torch.from_numpy(want["anchors"].copy())
    for n in range(got["box_deltas"].shape[0]):
        d = torch.from_numpy(got["box_deltas"][n].copy())
        ref = box_ops.clip_boxes_to_image(coder.decode_single(d, anchors), (H, W)).numpy()
        check(f"decoded boxes of image {n} max abs error (px)",
              float(np.max(np.abs(got["boxes"][n] - ref))), 1e-3)
    k = 0
    while f"target_classes.{k}" in want:
        tc, wc = got[f"target_classes.{k}"], want[f"target_classes.{k}"]
        check(f"gt set {k}: anchors whose class target differs ({int(np.sum(wc >= 0))} positives)",
              float(np.sum(tc != wc)), 0)
        check(f"gt set {k}: box targets max abs error",
              float(np.max(np.abs(got[f"box_targets.{k}"] - want[f"box_targets.{k}"]))), 1e-5)
        k += 1
    return ok


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "errors":
        make_errors(sys.argv[2])
    else:
        sys.exit(0 if compare(*sys.argv[2:5]) else 1)
