"""Oracle for the loss plugins: each case writes predictions, targets and
weights, runs the plugin through `check_losses --run`, and compares the
per-image losses and d sum(loss) / d predictions with float64 torch
(torchvision.ops.sigmoid_focal_loss, generalized_box_iou_loss and BoxCoder,
or the formula written here) and torch autograd.

Usage: losses_parity.py DRIVER TMPDIR. Prints one line per case; exits 1 if
any case is off by more than 1e-5 (relative: max |kcv - ref| / max |ref|
per tensor, and per element |kcv - ref| <= 1e-5 |ref| + 1e-6 max |ref|)."""
import json
import subprocess
import sys

import numpy as np
import torch
import torchvision
from torchvision.models.detection._utils import BoxCoder

sys.path.insert(0, sys.path[0])
import st_io  # noqa: E402

driver, tmp = sys.argv[1], sys.argv[2]
torch.set_num_threads(2)
rng = np.random.default_rng(11)
TOL = 1e-5
failures = 0


def run_kcv(spec, pred, tgt, w):
    st_io.save(f"{tmp}/in.safetensors", {"predictions": pred, "targets": tgt, "weights": w})
    r = subprocess.run([driver, "--run", json.dumps(spec), f"{tmp}/in.safetensors",
                        f"{tmp}/out.safetensors"], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"driver failed: {r.stderr.strip()}")
    out = st_io.load(f"{tmp}/out.safetensors")
    return out["loss"].astype(np.float64), out["grad"].astype(np.float64)


def errors(got, want):
    scale = float(np.max(np.abs(want))) or 1.0
    rel = float(np.max(np.abs(got - want))) / scale
    elem = float(np.max(np.abs(got - want) / (np.abs(want) + 0.1 * scale)))
    ok = bool(np.all(np.abs(got - want) <= TOL * np.abs(want) + 0.1 * TOL * scale))
    return rel, elem, ok


def check(name, spec, pred, tgt, w, per_anchor):
    """per_anchor(pred64, tgt64) -> [N, A] losses, differentiable in pred64."""
    global failures
    pred = pred.astype(np.float32)
    tgt = tgt.astype(np.float32)
    w = w.astype(np.float32)
    try:
        loss, grad = run_kcv(spec, pred, tgt, w)
    except RuntimeError as e:
        print(f"FAIL {name}: {e}")
        failures += 1
        return
    p = torch.tensor(pred, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(tgt, dtype=torch.float64)
    ref = (per_anchor(p, t) * torch.tensor(w, dtype=torch.float64)).sum(1)
    ref.sum().backward()
    rl, el, okl = errors(loss, ref.detach().numpy())
    rg, eg, okg = errors(grad, p.grad.numpy())
    ok = okl and okg and np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    print(f"{'ok  ' if ok else 'FAIL'} {name}: loss rel {rl:.1e}, grad rel {rg:.1e} "
          f"(per element {max(el, eg):.1e})")
    failures += 0 if ok else 1


def class_batch(n, a, c, scale=3.0):
    logits = rng.normal(0, scale, (n, a, c))
    logits[0, :8, 0] = [-60, -30, -15, -5, 5, 15, 30, 60]  # saturated sigmoids
    cls = rng.integers(-2, c, (n, a))
    cls[rng.random((n, a)) < 0.6] = -1  # mostly background
    tgt = np.zeros((n, a, c))
    for i in range(n):
        for j in range(a):
            if cls[i, j] >= 0:
                tgt[i, j, cls[i, j]] = 1
    npos = np.maximum((cls >= 0).sum(1, keepdims=True), 1)
    w = np.where(cls == -2, 0.0, 1.0 / npos)  # KerasCV: ignore -> 0, others / N_pos
    return logits, tgt, w


def tv_focal(alpha, gamma):
    return lambda p, t: torchvision.ops.sigmoid_focal_loss(p, t, alpha=alpha, gamma=gamma,
                                                           reduction="none").sum(-1)


def kcv_focal(alpha, gamma, ls, from_logits):
    """The documented semantics: y smoothed in CE and p_t, alpha_t by the raw
    target, probabilities clipped as Keras."""
    def f(x, t):
        y = t * (1 - ls) + 0.5 * ls
        if from_logits:
            pr = torch.sigmoid(x)
            ce = torch.nn.functional.binary_cross_entropy_with_logits(x, y, reduction="none")
        else:
            c = x.clamp(1e-7, float(np.float32(1 - 1e-7)))
            pr = x.clamp(0, 1)
            ce = -(y * torch.log(c + 1e-7) + (1 - y) * torch.log(1 - c + 1e-7))
        q = y * (1 - pr) + (1 - y) * pr
        at = torch.where(t == 1, torch.tensor(alpha, dtype=x.dtype),
                         torch.tensor(1 - alpha, dtype=x.dtype))
        return (at * q ** gamma * ce).sum(-1)
    return f


# ---- focal ------------------------------------------------------------------
x, t, w = class_batch(3, 400, 20)
check("focal vs torchvision (alpha .25, gamma 2)", {"plugin": "focal_loss"}, x, t, w,
      tv_focal(0.25, 2))
check("focal vs torchvision (alpha .4, gamma 1.5)",
      {"plugin": "focal_loss", "alpha": 0.4, "gamma": 1.5}, x, t, w, tv_focal(0.4, 1.5))
check("focal vs torchvision (no alpha, gamma 0)",
      {"plugin": "focal_loss", "alpha": -1, "gamma": 0}, x, t, w, tv_focal(-1, 0))
check("focal label_smoothing 0.1 vs formula",
      {"plugin": "focal_loss", "label_smoothing": 0.1}, x, t, w, kcv_focal(0.25, 2, 0.1, True))
probs = 1 / (1 + np.exp(-rng.normal(0, 2, x.shape)))
probs[0, :4, 0] = [0.0, 1.0, 1e-9, 1 - 1e-9]  # the clip
check("focal from probabilities vs Keras formula", {"plugin": "focal_loss", "from_logits": False},
      probs, t, w, kcv_focal(0.25, 2, 0, False))

# ---- box losses ---------------------------------------------------------------
n, a = 3, 500
deltas = rng.normal(0, 1, (n, a, 4))
targets = rng.normal(0, 1, (n, a, 4))
bw = np.where(rng.random((n, a)) < 0.3, 1.0 / 50, 0.0)


def smooth_l1(cut, reduce):
    def f(p, t):
        d = t - p
        l = torch.where(d.abs() < cut, 0.5 * d * d, d.abs() - 0.5)
        return l.mean(-1) if reduce == "mean" else l.sum(-1)
    return f


check("smooth L1 (cutoff 1, mean) vs formula", {"plugin": "smooth_l1_loss"}, deltas, targets, bw,
      smooth_l1(1.0, "mean"))
check("smooth L1 (cutoff 0.5, sum) vs formula",
      {"plugin": "smooth_l1_loss", "l1_cutoff": 0.5, "reduction": "sum"}, deltas, targets, bw,
      smooth_l1(0.5, "sum"))
check("L1 (sum) vs formula", {"plugin": "l1_loss"}, deltas, targets, bw,
      lambda p, t: (t - p).abs().sum(-1))
check("L1 (mean) vs formula", {"plugin": "l1_loss", "reduction": "mean"}, deltas, targets, bw,
      lambda p, t: (t - p).abs().mean(-1))

# GIoU: both delta sets decoded against real anchors of every size and shape
# (the plugin decodes against a unit anchor: GIoU must not notice)
anc_c = rng.uniform(0, 512, (a, 2))
anc_s = np.exp(rng.uniform(np.log(16), np.log(400), (a, 2)))
anchors = torch.tensor(np.concatenate([anc_c - anc_s / 2, anc_c + anc_s / 2], 1))


def giou_center(var, clamp):
    coder = BoxCoder(weights=tuple(1.0 / v for v in var), bbox_xform_clip=clamp)

    def f(p, t):
        out = []
        for i in range(p.shape[0]):
            bp = coder.decode_single(p[i], anchors)
            bt = coder.decode_single(t[i], anchors)
            out.append(torchvision.ops.generalized_box_iou_loss(bp, bt, reduction="none"))
        return torch.stack(out)
    return f


def giou_top_left(var):
    def dec(d):
        x1, y1 = anchors[:, 0], anchors[:, 1]
        wa, ha = anchors[:, 2] - x1, anchors[:, 3] - y1
        x = d[:, 0] * var[0] * wa + x1
        y = d[:, 1] * var[1] * ha + y1
        return torch.stack([x, y, x + torch.exp(d[:, 2] * var[2]) * wa,
                            y + torch.exp(d[:, 3] * var[3]) * ha], 1)

    def f(p, t):
        return torch.stack([torchvision.ops.generalized_box_iou_loss(dec(p[i]), dec(t[i]))
                            for i in range(p.shape[0])])
    return f


# predictions near the targets (most boxes overlap), and some far
near = targets + rng.normal(0, 0.5, targets.shape)
near[:, ::7] = rng.normal(0, 8, near[:, ::7].shape)
check("GIoU top-left (KerasCV coding, no clamp) vs torchvision",
      {"plugin": "giou_loss", "box_coding": "top_left", "decode_clamp": 0}, near, targets, bw,
      giou_top_left([0.1, 0.1, 0.2, 0.2]))
check("GIoU centre (torchvision BoxCoder 10,10,5,5) vs torchvision",
      {"plugin": "giou_loss"}, near, targets, bw,
      giou_center([0.1, 0.1, 0.2, 0.2], float(np.log(1000.0 / 16))))
wide = near.copy()
wide[:, ::5, 2:] = rng.normal(0, 4, wide[:, ::5, 2:].shape)  # some above the clamp
check("GIoU centre (weights 1, clamp ln(1000/16)) vs torchvision",
      {"plugin": "giou_loss", "box_coding": "center", "box_variance": [1, 1, 1, 1],
       "decode_clamp": float(np.log(1000.0 / 16))}, wide, targets, bw,
      giou_center([1, 1, 1, 1], float(np.log(1000.0 / 16))))

sys.exit(1 if failures else 0)
