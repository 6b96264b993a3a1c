"""Oracle for tests/train_parity.sh: kcv's training steps against PyTorch.

usage: train_step_parity.py PIPELINE.json TRACE.safetensors [RAW.safetensors]
       train_step_parity.py --planted PIPELINE.json TRACE.safetensors
RAW: the same steps without augmentation (data.augment=null). --planted:
errors planted in copies of TRACE must each be reported.

TRACE is what `tests/train_tool PIPELINE.json STEPS TRACE` wrote
(kcv_train_trace): kcv's initial parameters, and per step the batch, the
encoder's classes, the loss graph's targets and weights, the detector's
outputs, the losses, every gradient, the optimiser's learning rate and the
parameters after the step. Everything here is rebuilt from the pipeline's
JSON alone, in float64: the network (resnet_custom with GroupNorm, the FPN on
C3..C5 with nearest upsampling to the lateral's size, the GroupNorm heads
shared across the levels), the anchors, torchvision's Matcher and BoxCoder,
torchvision's RetinaNet loss (sigmoid_focal_loss summed over the anchors that
are not ignored, L1 summed over the positives, each divided by max(1, N_pos)
of its image, mean over the images), Keras global_clipnorm and
torch.optim.AdamW with the Keras-style warm-up + cosine schedule.

Checks, each step s against kcv's parameters before step s ("chained": no
drift between the two):
  targets      anchor classes equal; box targets within 1e-5 (float32
               encoding of the same boxes); per-anchor loss weights within 1e-6
  outputs      class logits and box deltas within 1e-4 of their max abs
  losses       classification and box within 1e-4 relative
  gradients    every gradient within 1e-3 of its tensor's max abs
  optimiser    lr and the gradient norm as computed here; AdamW on kcv's
               gradients gives kcv's parameters within 1e-5 of max abs
and end to end, PyTorch alone from kcv's initial parameters: the losses of
every step within 1e-4 relative and the parameters after the last step within
1e-4 of each tensor's max abs (excepting elements whose first-step AdamW
update is a sign decision on a gradient below float32 resolution; reported).
Exit status 1 on any mismatch, with one line per mismatch."""
import contextlib
import io
import json
import math
import sys

import torch
import torch.nn.functional as F
from torchvision.models.detection._utils import BoxCoder, Matcher
from torchvision.ops import box_iou, sigmoid_focal_loss

sys.path.insert(0, sys.path[0])
import st_io  # noqa: E402

torch.set_num_threads(2)
D = torch.float64
failures = []


def fail(msg):
    failures.append(msg)
    print("MISMATCH: " + msg)


# ---- the pipeline ---------------------------------------------------------------

def load_pipeline(path):
    with open(path) as f:
        p = json.load(f)
    m, bb = p["model"], p["model"]["backbone"]
    assert m["plugin"] == "retinanet" and bb["plugin"] == "resnet_custom", "unsupported model"
    assert bb.get("block", "basic") == "basic" and bb.get("stem", "conv3") == "conv3"
    assert bb.get("norm", "group") == "group"
    cfg = {
        "classes": m["classes"],
        "depths": bb.get("depths", [1, 1, 1, 1]),
        "widths": bb.get("widths", [32, 64, 128, 256]),
        "stem_width": bb.get("stem_width", 32),
        "bb_groups": bb.get("norm_groups", 8),
        "bb_eps": bb.get("norm_eps", 1e-5),
        "input_norm": bb.get("input_normalization", "imagenet"),
        "min_level": m.get("min_level", 3),
        "max_level": m.get("max_level", 7),
        "head_convs": m.get("head_convs", 3),
        "head_norm": m.get("head_norm", "none"),
        "head_groups": m.get("head_norm_groups", 32),
        "sizes": m.get("anchor_sizes"),
        "scales": m.get("anchor_scales", [1, 2 ** (1 / 3), 2 ** (2 / 3)]),
        "ratios": m.get("anchor_ratios", [0.5, 1, 2]),
        "ratio_def": m.get("ratio_definition", "w/h"),
        "order": m.get("anchor_order", "scale_major"),
        "offset": m.get("anchor_offset", 0.5),
        "clip": m.get("anchor_clip", True),
        "coding": m.get("box_coding", "center"),
        "variance": m.get("box_variance", [0.1, 0.1, 0.2, 0.2]),
        "pos_iou": m.get("positive_iou", 0.5),
        "neg_iou": m.get("negative_iou", 0.4),
        "low_quality": m.get("low_quality_matches", False),
    }
    assert cfg["max_level"] <= 5, "P6/P7 are not modelled here"
    assert cfg["coding"] == "center", "only centre box coding is modelled here"
    assert cfg["head_norm"] == "group"
    cfg["H"], cfg["W"] = p["image_size"]  # [height, width]
    losses = p["losses"]
    cl, bl = losses["classification"], losses["box"]
    assert cl["plugin"] == "focal_loss" and bl["plugin"] == "l1_loss"
    assert cl.get("from_logits", True) and cl.get("label_smoothing", 0) == 0
    assert bl.get("reduction", "sum") == "sum"
    cfg["alpha"], cfg["gamma"] = cl.get("alpha", 0.25), cl.get("gamma", 2.0)
    cfg["batch_mean"] = losses.get("batch_reduction", "sum") == "mean"
    cfg["min_pos"] = losses.get("min_positives", 0)
    assert losses.get("classification_weight", 1) == 1 and losses.get("box_weight", 1) == 1
    o = p["optimizer"]
    assert o["type"] == "adamw"
    sched = o.get("schedule", {"type": "constant"})
    cfg["opt"] = dict(lr=o["learning_rate"], wd=o.get("weight_decay", 0.0),
                      beta1=o.get("beta1", 0.9), beta2=o.get("beta2", 0.999),
                      eps=o.get("eps", 1e-8), clip=o.get("global_clipnorm", 0.0),
                      sched=sched.get("type", "constant"),
                      warmup=sched.get("warmup_steps", 0),
                      warmup_start=sched.get("warmup_lr_start", 0.0),
                      alpha=sched.get("alpha", 0.0), decay_steps=sched.get("decay_steps", 0),
                      total=p["train"]["epochs"] * p["train"]["steps_per_epoch"])
    return cfg


def schedule_lr(o, t):
    """Keras CosineDecay (with Keras 3 style warm-up) or a constant rate."""
    def base(u):
        if o["sched"] == "constant":
            return o["lr"]
        decay = o["decay_steps"] or max(1, o["total"] - o["warmup"])
        u = min(u, decay)
        return o["lr"] * ((1 - o["alpha"]) * 0.5 * (1 + math.cos(math.pi * u / decay)) + o["alpha"])
    w = o["warmup"]
    if t < w:
        return o["warmup_start"] + (base(0) - o["warmup_start"]) * t / w
    return base(t - w)


# ---- the network, functional, on a dict of kcv-named parameters ------------------

def conv(x, P, name, stride=1, bias=True):
    w = P[name + ".weight"]
    k = w.shape[-1]
    return F.conv2d(x, w, P.get(name + ".bias") if bias else None, stride, k // 2)


def gn(x, P, name, groups, eps):
    return F.group_norm(x, groups, P[name + ".weight"], P[name + ".bias"], eps)


def backbone(cfg, P, x):
    g, eps = cfg["bb_groups"], cfg["bb_eps"]
    if cfg["input_norm"] == "imagenet":
        mean = torch.tensor([0.485, 0.456, 0.406], dtype=D).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225], dtype=D).view(1, 3, 1, 1)
        x = (x / 255.0 - mean) / std
    else:
        assert cfg["input_norm"] == "none"
    x = F.relu(gn(conv(x, P, "conv1", 2, False), P, "bn1", g, eps))
    x = F.relu(gn(conv(x, P, "conv2", 2, False), P, "bn2", g, eps))
    cin, feats = cfg["stem_width"], []
    for s in range(4):
        for b in range(cfg["depths"][s]):
            stride = 2 if b == 0 and s > 0 else 1
            pre = f"layer{s + 1}.{b}."
            out = cfg["widths"][s]
            idt = x
            if stride != 1 or cin != out:
                idt = gn(conv(x, P, pre + "downsample.0", stride, False), P,
                         pre + "downsample.1", g, eps)
            y = F.relu(gn(conv(x, P, pre + "conv1", stride, False), P, pre + "bn1", g, eps))
            y = gn(conv(y, P, pre + "conv2", 1, False), P, pre + "bn2", g, eps)
            x = F.relu(y + idt)
            cin = out
        feats.append(x)
    return feats  # C2..C5


def head(cfg, P, kind, last, x, k):
    for i in range(cfg["head_convs"]):
        x = conv(x, P, f"head.{kind}.conv.{i}", 1, False)
        x = F.relu(gn(x, P, f"head.{kind}.norm.{i}", cfg["head_groups"], 1e-5))
    x = conv(x, P, f"head.{kind}.{last}")
    n = x.shape[0]
    # [N, A*K, H, W] -> [N, H, W, A*K] -> [N, H*W*A, K]
    return x.permute(0, 2, 3, 1).reshape(n, -1, k)


def detector(cfg, P, images_nhwc):
    c2, c3, c4, c5 = backbone(cfg, P, images_nhwc.permute(0, 3, 1, 2))
    cmap = {3: c3, 4: c4, 5: c5}
    lo, hi = cfg["min_level"], cfg["max_level"]
    m, p = {}, {}
    for lv in range(5, lo - 1, -1):
        lat = conv(cmap[lv], P, f"fpn.inner.{lv - 3}")
        m[lv] = lat if lv == 5 else lat + F.interpolate(m[lv + 1], size=lat.shape[-2:],
                                                        mode="nearest")
        p[lv] = conv(m[lv], P, f"fpn.layer.{lv - 3}")
    levels = [p[lv] for lv in range(lo, hi + 1)]
    C, A = cfg["classes"], len(cfg["scales"]) * len(cfg["ratios"])
    cls = torch.cat([head(cfg, P, "cls", "logits", x, C) for x in levels], 1)
    box = torch.cat([head(cfg, P, "box", "deltas", x, 4) for x in levels], 1)
    grids = [tuple(x.shape[-2:]) for x in levels]
    assert cls.shape[1] == sum(h * w for h, w in grids) * A
    return cls, box, grids


# ---- anchors, matching, box coding -------------------------------------------------

def anchors(cfg, grids):
    out = []
    ns, nr = len(cfg["scales"]), len(cfg["ratios"])
    for li, (gh, gw) in enumerate(grids):
        level = cfg["min_level"] + li
        stride = 2 ** level
        size = cfg["sizes"][li] if cfg["sizes"] else 4.0 * stride
        cell = []
        for k in range(ns * nr):
            si, ri = (k // nr, k % nr) if cfg["order"] == "scale_major" else (k % ns, k // ns)
            s, q = size * cfg["scales"][si], math.sqrt(cfg["ratios"][ri])
            w, h = (s * q, s / q) if cfg["ratio_def"] == "w/h" else (s / q, s * q)
            cell.append([-w / 2, -h / 2, w / 2, h / 2])
        cell = torch.tensor(cell, dtype=D)
        ys = (torch.arange(gh, dtype=D) + cfg["offset"]) * stride
        xs = (torch.arange(gw, dtype=D) + cfg["offset"]) * stride
        cy, cx = torch.meshgrid(ys, xs, indexing="ij")
        ctr = torch.stack([cx, cy, cx, cy], -1).reshape(-1, 1, 4)
        out.append((ctr + cell.view(1, -1, 4)).reshape(-1, 4))
    a = torch.cat(out)
    if cfg["clip"]:
        a[:, 0::2] = a[:, 0::2].clamp(0, cfg["W"])
        a[:, 1::2] = a[:, 1::2].clamp(0, cfg["H"])
    return a.float()  # kcv's anchors are float32


def encode_image(cfg, anc, boxes, classes):
    """torchvision Matcher + BoxCoder, in float32 like kcv: (classes [A] with
    -1 background and -2 ignored, box targets [A,4], how many positives come
    from low-quality matches)."""
    keep = (classes >= 0) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes, classes = boxes[keep].float(), classes[keep].long()
    A = anc.shape[0]
    if boxes.shape[0] == 0:
        return torch.full((A,), -1, dtype=torch.long), torch.zeros(A, 4), 0
    matcher = Matcher(cfg["pos_iou"], cfg["neg_iou"], allow_low_quality_matches=cfg["low_quality"])
    iou = box_iou(boxes, anc)
    idx = matcher(iou)
    cls = torch.where(idx >= 0, classes[idx.clamp(min=0)], idx)
    coder = BoxCoder(weights=tuple(1.0 / v for v in cfg["variance"]))
    tgt = coder.encode_single(boxes[idx.clamp(min=0)], anc)
    tgt[idx < 0] = 0
    return cls, tgt, int(((idx >= 0) & (iou.max(0).values < cfg["pos_iou"])).sum())


def losses(cfg, logits, deltas, cls_t, box_t):
    """torchvision RetinaNet's losses (focal summed over the anchors that are
    not ignored, L1 summed over positives, each / max(min_positives, N_pos))."""
    C = cfg["classes"]
    cl_sum, bx_sum = 0, 0
    n = logits.shape[0]
    for i in range(n):
        fg = cls_t[i] >= 0
        valid = cls_t[i] >= -1
        npos = int(fg.sum())
        denom = max(npos, cfg["min_pos"])
        if denom == 0:
            continue
        onehot = torch.zeros_like(logits[i])
        onehot[fg, cls_t[i][fg]] = 1.0
        cl = sigmoid_focal_loss(logits[i][valid], onehot[valid], alpha=cfg["alpha"],
                                gamma=cfg["gamma"], reduction="sum")
        bx = F.l1_loss(deltas[i][fg], box_t[i][fg].to(D), reduction="sum")
        cl_sum = cl_sum + cl / denom
        bx_sum = bx_sum + bx / denom
    if cfg["batch_mean"]:
        cl_sum, bx_sum = cl_sum / n, bx_sum / n
    return cl_sum, bx_sum


# ---- helpers ------------------------------------------------------------------------

def to_torch(name, a):
    t = torch.from_numpy(a.copy()).to(D)
    if t.dim() == 4 and not name.startswith("step"):
        t = t.permute(3, 2, 0, 1).contiguous()  # HWIO -> OIHW
    return t


def to_kcv(t):
    t = t.detach()
    return t.permute(2, 3, 1, 0) if t.dim() == 4 else t


def rel(a, b):
    a = torch.tensor(a, dtype=D) if not torch.is_tensor(a) else a.to(D)
    b = torch.tensor(b, dtype=D) if not torch.is_tensor(b) else b.to(D)
    return float((a - b).abs().max() / max(float(b.abs().max()), 1e-30))


def params_from(tr, prefix, names):
    return {n: to_torch(n, tr[prefix + n]).requires_grad_(True) for n in names}


# ---- the checks ---------------------------------------------------------------------

def check_step(cfg, tr, s, P, trained, report):
    pre = f"step{s}."
    images = torch.from_numpy(tr[pre + "images"].copy()).to(D)
    logits, deltas, grids = detector(cfg, P, images)
    anc = anchors(cfg, grids)
    n, A, C = logits.shape
    gtb, gtc = torch.from_numpy(tr[pre + "gt_boxes"].copy()), torch.from_numpy(tr[pre + "gt_classes"].copy())
    cls_t, box_t = [], []
    for i in range(n):
        c, t, lq = encode_image(cfg, anc, gtb[i], gtc[i])
        report["low_quality"] = report.get("low_quality", 0) + lq
        report["empty"] = report.get("empty", 0) + int((c >= 0).sum() == 0)
        cls_t.append(c)
        box_t.append(t)
    cls_t, box_t = torch.stack(cls_t), torch.stack(box_t)

    # targets
    kc = torch.from_numpy(tr[pre + "anchor_classes"].copy()).long()
    bad = int((kc != cls_t).sum())
    if bad:
        i, a = (kc != cls_t).nonzero()[0].tolist()
        fail(f"step {s}: {bad} anchor classes differ (first: image {i} anchor {a}: kcv "
             f"{int(kc[i, a])}, torchvision Matcher {int(cls_t[i, a])})")
    fg = cls_t >= 0
    kbt = torch.from_numpy(tr[pre + "box_targets"].copy())
    err_bt = float((kbt - box_t * fg[..., None]).abs().max())
    if err_bt > 1e-5:
        fail(f"step {s}: box targets differ by {err_bt:.3g} from BoxCoder's")
    npos = fg.sum(1).to(D)
    denom = npos.clamp(min=cfg["min_pos"])
    scale = torch.where(denom > 0, 1 / denom.clamp(min=1e-30), torch.zeros_like(denom))
    if cfg["batch_mean"]:
        scale = scale / n
    want_cw = torch.where(cls_t >= -1, scale[:, None], torch.zeros(()).to(D))
    want_bw = torch.where(fg, scale[:, None], torch.zeros(()).to(D))
    onehot = torch.zeros(n, A, C, dtype=D)
    onehot[fg] = F.one_hot(cls_t[fg], C).to(D)
    for key, want in (("cls_weights", want_cw), ("box_weights", want_bw), ("cls_targets", onehot)):
        e = float((torch.from_numpy(tr[pre + key].copy()).to(D) - want).abs().max())
        if e > 1e-6:
            fail(f"step {s}: {key} differ by {e:.3g}")

    # outputs and losses
    e_cls = rel(tr[pre + "class_logits"], logits.detach())
    e_box = rel(tr[pre + "box_deltas"], deltas.detach())
    for what, e in (("class logits", e_cls), ("box deltas", e_box)):
        if e > 1e-4:
            fail(f"step {s}: {what} differ by {e:.3g} of their max abs")
    cl, bx = losses(cfg, logits, deltas, cls_t, box_t)
    kl = tr[pre + "losses"]
    for what, got, want in (("classification", kl[1], cl), ("box", kl[2], bx),
                            ("total", kl[0], cl + bx)):
        e = abs(float(got) - float(want)) / max(abs(float(want)), 1e-30)
        if e > 1e-4:
            fail(f"step {s}: {what} loss kcv {float(got):.7g}, PyTorch {float(want):.7g} "
                 f"(relative {e:.3g})")
    report["losses"].append((float(kl[1]), float(cl), float(kl[2]), float(bx)))
    report["pos"].append(int(npos.sum()))
    report["out"] = max(report["out"], e_cls, e_box)

    # gradients
    (cl + bx).backward()
    grads = {}
    worst = (0.0, None)
    for name in trained:
        g = P[name].grad
        key = pre + "grad." + name
        if key not in tr:
            fail(f"step {s}: kcv gave no gradient for {name}")
            continue
        e = rel(tr[key], to_kcv(g))
        if e > worst[0]:
            worst = (e, name)
        if e > 1e-3:
            fail(f"step {s}: gradient of {name} differs by {e:.3g} of its max abs")
        grads[name] = g.detach().clone()
    extra = [k for k in tr if k.startswith(pre + "grad.") and k[len(pre) + 5:] not in trained]
    if extra:
        fail(f"step {s}: kcv has gradients of untrained tensors: {extra[:3]}")
    report["grad"] = max(report["grad"], worst[0])
    if worst[0] >= report.get("grad_worst", (0.0, None))[0]:
        report["grad_worst"] = (worst[0], f"{worst[1]} (step {s})")
    return float(cl + bx), grads


class Adam:
    """torch.optim.AdamW on float64 tensors with Keras global_clipnorm."""

    def __init__(self, o, P, names):
        self.o, self.names = o, names
        self.t = {n: P[n].detach().clone() for n in names}
        self.opt = torch.optim.AdamW([self.t[n] for n in names], lr=o["lr"],
                                     betas=(o["beta1"], o["beta2"]), eps=o["eps"],
                                     weight_decay=o["wd"])
        self.step_no = 0

    def step(self, grads):
        norm = math.sqrt(sum(float((grads[n] ** 2).sum()) for n in self.names))
        clip = self.o["clip"]
        # Keras: g * clipnorm / max(norm, clipnorm) (torch's clip_grad_norm_
        # divides by norm + 1e-6 instead: 1e-7 relative here)
        scale = clip / max(norm, clip) if clip > 0 else 1.0
        lr = schedule_lr(self.o, self.step_no)
        for n in self.names:
            self.t[n].grad = grads[n] * scale
        for grp in self.opt.param_groups:
            grp["lr"] = lr
        self.opt.step()
        self.step_no += 1
        return lr, norm, scale


def check_augment(cfg, tr, raw, steps):
    """Each augmented image must be one of the 8 flips/transposes of the
    same dataset image un-augmented (RAW), and its boxes that transform of
    the un-augmented boxes. Returns a summary."""
    import numpy as np
    W, H = cfg["W"], cfg["H"]
    seen, n = set(), 0
    for s in range(steps):
        pre = f"step{s}."
        if list(tr[pre + "indices"]) != list(raw[pre + "indices"]):
            fail(f"step {s}: the un-augmented run drew other images")
            continue
        for i in range(tr[pre + "images"].shape[0]):
            img, src = tr[pre + "images"][i], raw[pre + "images"][i]
            keep = raw[pre + "gt_classes"][i] >= 0
            rb, rc = raw[pre + "gt_boxes"][i][keep].astype(np.float64), raw[pre + "gt_classes"][i][keep]
            keep = tr[pre + "gt_classes"][i] >= 0
            ab, ac = tr[pre + "gt_boxes"][i][keep].astype(np.float64), tr[pre + "gt_classes"][i][keep]
            found = None
            for t in ((0, 1) if W == H else (0,)):
                for fx in (0, 1):
                    for fy in (0, 1):
                        im = src.transpose(1, 0, 2) if t else src
                        im = im[:, ::-1] if fx else im
                        im = im[::-1] if fy else im
                        if np.array_equal(im, img):
                            found = (t, fx, fy)
            if found is None:
                fail(f"step {s} image {i}: not a flip/transpose of dataset image "
                     f"{int(tr[pre + 'indices'][i])}")
                continue
            t, fx, fy = found
            seen.add(found)
            x = rb[:, [0, 2]]
            y = rb[:, [1, 3]]
            if t:
                x, y = y, x
            if fx:
                x = W - x
            if fy:
                y = H - y
            want = np.stack([x.min(1), y.min(1), x.max(1), y.max(1)], 1)
            if want.shape != ab.shape or not np.allclose(want, ab, atol=1e-4) or \
                    not np.array_equal(rc, ac):
                fail(f"step {s} image {i}: boxes {ab.tolist()} (classes {ac.tolist()}) are not "
                     f"the transform {found} of {rb.tolist()} ({rc.tolist()}): want {want.tolist()}")
            n += 1
    return f"augmentation: {n} images are flips/transposes of their dataset images ({len(seen)} " \
           f"of the transforms seen) with their boxes transformed alike"


def run(cfg, tr, raw=None, end_to_end=True):
    """Every check on trace tr; prints the report, returns the mismatches."""
    failures.clear()
    steps = sum(1 for k in tr if k.startswith("step") and k.endswith(".losses"))
    names = sorted(k[5:] for k in tr if k.startswith("init."))
    trained = sorted(k[len("step0.grad."):] for k in tr if k.startswith("step0.grad."))
    fixed = sorted(set(names) - set(trained))
    if any(not n.startswith("input_norm.") for n in fixed):
        fail(f"kcv trains no gradient for {[n for n in fixed if not n.startswith('input_norm.')]}")
    report = {"losses": [], "pos": [], "out": 0.0, "grad": 0.0}

    # chained: each step from kcv's parameters before it
    adam = Adam(cfg["opt"], params_from(tr, "init.", trained), trained)
    opt_err = 0.0
    for s in range(steps):
        prefix = "init." if s == 0 else f"step{s - 1}.after."
        P = params_from(tr, prefix, names)
        _, grads = check_step(cfg, tr, s, P, trained, report)
        kgrads = {n: to_torch(n, tr[f"step{s}.grad.{n}"]) for n in trained}
        lr, norm, scale = adam.step(kgrads)
        klr, knorm = float(tr[f"step{s}.lr"][0]), float(tr[f"step{s}.grad_norm"][0])
        if abs(klr - lr) > 1e-6 * lr + 1e-12:
            fail(f"step {s}: learning rate kcv {klr:.7g}, schedule {lr:.7g}")
        if abs(knorm - norm) > 1e-5 * norm:
            fail(f"step {s}: gradient norm kcv {knorm:.7g}, recomputed {norm:.7g}")
        # torch's own gradient norm, for the report
        tnorm = math.sqrt(sum(float((grads[n] ** 2).sum()) for n in trained))
        report.setdefault("norms", []).append((knorm, tnorm, scale, lr))
        for n in names:
            want = adam.t[n] if n in trained else to_torch(n, tr["init." + n])
            e = rel(tr[f"step{s}.after.{n}"], to_kcv(want))
            opt_err = max(opt_err, e)
            if e > 1e-5:
                fail(f"step {s}: AdamW on kcv's gradients: {n} differs by {e:.3g} of its max abs")

    print(f"{steps} steps, positives per step {report['pos']} ({report['low_quality']} from "
          f"low-quality matches), {report['empty']} images without positives")
    for s, (kc, tc, kb, tb) in enumerate(report["losses"]):
        kn, tn, sc, lr = report["norms"][s]
        print(f"step {s}: cls loss kcv {kc:.6f} torch {tc:.6f}; box loss kcv {kb:.6f} torch "
              f"{tb:.6f}; grad norm kcv {kn:.5f} torch {tn:.5f}; clip scale {sc:.4f}; lr {lr:.6g}")
    print(f"outputs max rel err {report['out']:.2e}; gradients: {len(trained)} tensors, worst "
          f"{report['grad_worst'][0]:.2e} ({report['grad_worst'][1]}); AdamW on kcv's gradients "
          f"max rel err {opt_err:.2e}")
    if end_to_end:
        end_to_end_checks(cfg, tr, steps, names, trained)
    if raw is not None:
        print(check_augment(cfg, tr, raw, steps))
    return list(failures)


def end_to_end_checks(cfg, tr, steps, names, trained):
    """PyTorch alone from kcv's initial parameters."""
    P = params_from(tr, "init.", names)
    adam = Adam(cfg["opt"], P, trained)
    e2e_loss, small = 0.0, {n: None for n in trained}
    for s in range(steps):
        Q = {n: (adam.t[n] if n in trained else P[n]).detach().clone().requires_grad_(True)
             for n in names}
        images = torch.from_numpy(tr[f"step{s}.images"].copy()).to(D)
        logits, deltas, grids = detector(cfg, Q, images)
        anc = anchors(cfg, grids)
        ct, bt = zip(*[encode_image(cfg, anc, torch.from_numpy(tr[f"step{s}.gt_boxes"][i].copy()),
                                    torch.from_numpy(tr[f"step{s}.gt_classes"][i].copy()))[:2]
                       for i in range(logits.shape[0])])
        cl, bx = losses(cfg, logits, deltas, torch.stack(ct), torch.stack(bt))
        (cl + bx).backward()
        grads = {n: Q[n].grad.detach().clone() for n in trained}
        for n in trained:
            # AdamW normalises each element's gradient: where it is below
            # 1e-3 of its tensor's largest, float32's error on it (1e-6 of
            # the largest) moves the update by more than 1e-3 of lr
            g = grads[n].abs()
            m = g < 1e-3 * float(g.max())
            small[n] = m if small[n] is None else small[n] | m
        want = float(cl + bx)
        e = abs(float(tr[f"step{s}.losses"][0]) - want) / want
        e2e_loss = max(e2e_loss, e)
        if e > 1e-4:
            fail(f"end to end: step {s} loss kcv {float(tr[f'step{s}.losses'][0]):.7g}, "
                 f"PyTorch {want:.7g} (relative {e:.3g})")
        adam.step(grads)
    last = f"step{steps - 1}.after."
    lr_sum = sum(schedule_lr(cfg["opt"], s) for s in range(steps))
    e2e_param, worst, n_small, small_worst, total = 0.0, None, 0, 0.0, 0
    for n in trained:
        want = adam.t[n]
        diff = (to_torch(n, tr[last + n]) - want).abs()
        scale = max(float(want.abs().max()), 1e-30)
        total += diff.numel()
        n_small += int(small[n].sum())
        if bool(small[n].any()):
            small_worst = max(small_worst, float(diff[small[n]].max()))
        e = float(torch.where(small[n], torch.zeros_like(diff), diff).max()) / scale
        if e > e2e_param:
            e2e_param, worst = e, n
        if e > 1e-4:
            fail(f"end to end: {n} after {steps} steps differs by {e:.3g} of its max abs")
    # elsewhere an update can differ by at most 2 lr a step
    if small_worst > 2 * lr_sum:
        fail(f"end to end: a parameter moved {small_worst:.3g} away, more than 2 x the sum of "
             f"the learning rates ({2 * lr_sum:.3g})")

    print(f"end to end: losses max rel err {e2e_loss:.2e}; parameters after {steps} steps max rel "
          f"err {e2e_param:.2e} ({worst}) on the {total - n_small} of {total} elements whose "
          f"gradients stayed above 1e-3 of their tensor's max; the others within {small_worst:.2g} "
          f"(sum of lr {lr_sum:.3g})")


# Planted errors (--planted): each must be reported.
PLANTS = {
    # one gradient element off by 0.5% of its tensor's largest
    "grad": lambda t: t["step1.grad.layer2.0.conv1.weight"].flat.__setitem__(
        7, t["step1.grad.layer2.0.conv1.weight"].flat[7]
        + 0.005 * abs(t["step1.grad.layer2.0.conv1.weight"]).max()),
    "loss": lambda t: t["step0.losses"].__setitem__(1, t["step0.losses"][1] * 1.001),
    # the first positive anchor turned background
    "target": lambda t: t["step0.anchor_classes"].flat.__setitem__(
        int((t["step0.anchor_classes"].reshape(-1) >= 0).argmax()), -1),
    # box weights of a batch sum instead of a mean
    "weight": lambda t: t["step0.box_weights"].__imul__(t["step0.images"].shape[0]),
    "logits": lambda t: t["step1.class_logits"].flat.__setitem__(
        3, t["step1.class_logits"].flat[3] + 0.01),
    "lr": lambda t: t["step2.lr"].__imul__(1.01),
    "update": lambda t: t["step1.after.head.box.deltas.bias"].__iadd__(1e-4),
}


def main():
    args = sys.argv[1:]
    if args and args[0] == "--planted":
        cfg, tr = load_pipeline(args[1]), st_io.load(args[2])
        missed = []
        for name, plant in PLANTS.items():
            t = {k: v.copy() for k, v in tr.items()}
            plant(t)
            with contextlib.redirect_stdout(io.StringIO()):
                got = run(cfg, t, end_to_end=False)
            print(f"planted {name}: " + (got[0] if got else "NOT REPORTED"))
            if not got:
                missed.append(name)
        if missed:
            print(f"the oracle missed planted errors: {missed}")
            sys.exit(1)
        return
    cfg, tr = load_pipeline(args[0]), st_io.load(args[1])
    raw = st_io.load(args[2]) if len(args) > 2 else None
    got = run(cfg, tr, raw)
    if got:
        print(f"{len(got)} mismatch(es)")
        sys.exit(1)


if __name__ == "__main__":
    main()
