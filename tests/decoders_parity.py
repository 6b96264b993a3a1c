"""Oracle for the decoder plugins: random boxes (clustered, so that NMS has
work; some leave the image) and scores over several levels and classes,
decoded by `check_decoders --run` and by
  - torchvision's RetinaNet postprocess sequence (per level: score > 0.05,
    topk, clip; batched_nms; keep the first 300), and variants of it;
  - KerasCV's rule (each anchor its argmax class, per-class torchvision nms
    cut to 100 per class, merged by score, cut to 100);
  - class-agnostic torchvision nms with remove_small_boxes;
  - a numpy Soft-NMS (Bodla et al. 2017) written here.
The kept detections (box, score, class) must be the same, in the same order
(runs of equal scores compared as sets).

Usage: decoders_parity.py DRIVER TMPDIR."""
import json
import subprocess
import sys

import numpy as np
import torch
import torchvision
from torchvision.ops import boxes as box_ops

sys.path.insert(0, sys.path[0])
import st_io  # noqa: E402

driver, tmp = sys.argv[1], sys.argv[2]
torch.set_num_threads(2)
rng = np.random.default_rng(5)
failures = 0
W, H = 320, 240


def make_input(levels, c, objects=40):
    a = sum(levels)
    centres = rng.uniform([0, 0], [W, H], (objects, 2))
    sizes = rng.uniform(10, 120, (objects, 2))
    pick = rng.integers(0, objects, a)
    ctr = centres[pick] + rng.normal(0, 6, (a, 2))
    wh = sizes[pick] * rng.uniform(0.7, 1.4, (a, 2))
    boxes = np.concatenate([ctr - wh / 2, ctr + wh / 2], 1).astype(np.float32)
    boxes[::97, 2:] = boxes[::97, :2] + rng.uniform(0, 0.5, (len(boxes[::97]), 2))  # tiny
    logits = rng.normal(-4, 2, (a, c))
    logits[np.arange(a), pick % c] += rng.uniform(0, 7, a)  # the object's class
    scores = (1 / (1 + np.exp(-logits))).astype(np.float32)
    scores[::53] = np.float32(0.05)  # exactly at the threshold
    return boxes, scores, np.array(levels, np.float32)


def run_kcv(spec, boxes, scores, levels):
    st_io.save(f"{tmp}/in.safetensors", {"boxes": boxes, "scores": scores, "levels": levels,
                                         "size": np.array([W, H], np.float32)})
    r = subprocess.run([driver, "--run", json.dumps(spec), f"{tmp}/in.safetensors",
                        f"{tmp}/out.safetensors"], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip())
    out = st_io.load(f"{tmp}/out.safetensors")
    if int(out["count"][0]) == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    return out["boxes"], out["scores"], out["classes"].astype(np.int64)


def same(got, want, score_tol=0.0):
    """(boxes, scores, classes) equal in order, equal-score runs as sets."""
    gb, gs, gc = got
    wb, ws, wc = (np.asarray(x) for x in want)
    if len(gs) != len(ws):
        return f"{len(gs)} detections, expected {len(ws)}"
    if np.any(np.abs(gs - ws) > score_tol * np.abs(ws)):
        i = int(np.argmax(np.abs(gs - ws) > score_tol * np.abs(ws)))
        return f"score {i}: {gs[i]!r} vs {ws[i]!r}"
    i = 0
    while i < len(gs):
        j = i
        while j + 1 < len(gs) and ws[j + 1] == ws[i]:
            j += 1
        g = sorted((int(gc[k]), *map(float, gb[k])) for k in range(i, j + 1))
        w = sorted((int(wc[k]), *map(float, wb[k])) for k in range(i, j + 1))
        if g != w:
            return f"detections {i}..{j} differ: {g[:2]} vs {w[:2]}"
        i = j + 1
    return None


def check(name, spec, inp, want, score_tol=0.0):
    global failures
    try:
        got = run_kcv(spec, *inp)
    except RuntimeError as e:
        print(f"FAIL {name}: driver failed: {e}")
        failures += 1
        return
    why = same(got, want, score_tol)
    print(f"{'ok  ' if why is None else 'FAIL'} {name}: {len(got[1])} detections"
          + ("" if why is None else f": {why}"))
    failures += why is not None


def tv_postprocess(boxes, scores, levels, thr=0.05, topk=1000, iou=0.5, keep=300, clip=True,
                   min_size=0.0):
    """torchvision RetinaNet postprocess_detections for one image (boxes
    already decoded)."""
    c = scores.shape[1]
    out_b, out_s, out_l = [], [], []
    a0 = 0
    for n in levels.astype(int):
        s = torch.from_numpy(scores[a0:a0 + n]).flatten()
        keep_idxs = s > thr
        s = s[keep_idxs]
        idxs = torch.where(keep_idxs)[0]
        k = min(topk, idxs.numel()) if topk else idxs.numel()
        s, o = s.topk(k)
        idxs = idxs[o]
        anchor = torch.div(idxs, c, rounding_mode="floor") + a0
        b = torch.from_numpy(boxes)[anchor]
        if clip:
            b = box_ops.clip_boxes_to_image(b, (H, W))
        out_b.append(b)
        out_s.append(s)
        out_l.append(idxs % c)
        a0 += n
    b, s, lab = torch.cat(out_b), torch.cat(out_s), torch.cat(out_l)
    if min_size > 0:
        k = box_ops.remove_small_boxes(b, min_size)
        b, s, lab = b[k], s[k], lab[k]
    k = box_ops.batched_nms(b, s, lab, iou)
    if keep:
        k = k[:keep]
    return b[k].numpy(), s[k].numpy(), lab[k].numpy()


def kerascv(boxes, scores, thr=0.05, iou=0.5, per_class=100, total=100, agnostic=False,
            min_size=0.0):
    """Each anchor its argmax class; per-class (or agnostic) NMS; merge."""
    cls = scores.argmax(1)
    best = scores[np.arange(len(scores)), cls]
    cand = np.where(best > np.float32(thr))[0]
    b, s, lab = torch.from_numpy(boxes[cand]), torch.from_numpy(best[cand]), torch.from_numpy(cls[cand])
    if min_size > 0:
        k = box_ops.remove_small_boxes(b, min_size)
        b, s, lab = b[k], s[k], lab[k]
    picks = []
    if agnostic:
        picks = box_ops.nms(b, s, iou).tolist()
    else:
        for c in torch.unique(lab).tolist():
            idx = torch.where(lab == c)[0]
            k = box_ops.nms(b[idx], s[idx], iou)
            k = k[:per_class] if per_class else k
            picks += idx[k].tolist()
    picks = torch.tensor(picks, dtype=torch.int64)
    picks = picks[torch.sort(s[picks], descending=True, stable=True)[1]]
    picks = picks[:total] if total else picks
    return b[picks].numpy(), s[picks].numpy(), lab[picks].numpy()


def iou_f32(m, others):
    """IoU in float32, in the order of torchvision's CPU kernel."""
    f = np.float32
    xx1 = np.maximum(m[0], others[:, 0])
    yy1 = np.maximum(m[1], others[:, 1])
    xx2 = np.minimum(m[2], others[:, 2])
    yy2 = np.minimum(m[3], others[:, 3])
    w = np.maximum(f(0), xx2 - xx1)
    h = np.maximum(f(0), yy2 - yy1)
    inter = w * h
    am = (m[2] - m[0]) * (m[3] - m[1])
    ao = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / (am + ao - inter)
    return np.where((inter > 0) & (am > 0) & (ao > 0), iou, f(0)).astype(np.float64)


def soft_nms(boxes, scores, levels, method="gaussian", sigma=0.5, nt=0.3, thr=0.05,
             score_thr=0.001, total=100, one_class=True, agnostic=False, topk=0):
    """Bodla et al.'s Soft-NMS, per class: pick the best, decay the rest."""
    c = scores.shape[1]
    cands = []  # (score, anchor, class) per level, top k
    a0 = 0
    for n in levels.astype(int):
        lv = []
        for a in range(a0, a0 + n):
            if one_class:
                k = int(np.argmax(scores[a]))
                if scores[a, k] > np.float32(thr):
                    lv.append((scores[a, k], a, k))
            else:
                lv += [(scores[a, k], a, k) for k in range(c) if scores[a, k] > np.float32(thr)]
        lv.sort(key=lambda t: (-t[0], t[1], t[2]))
        cands += lv[:topk] if topk else lv
        a0 += n
    cands.sort(key=lambda t: (-t[0], t[1], t[2]))
    picks = []
    for slot in ([None] if agnostic else range(c)):
        mine = [t for t in cands if agnostic or t[2] == slot]
        sc = np.array([float(t[0]) for t in mine])
        bx = np.array([boxes[t[1]] for t in mine], np.float32).reshape(-1, 4)
        ids = list(range(len(mine)))
        got = 0
        while ids and (not total or got < total):
            best = int(np.argmax(sc))
            picks.append((sc[best], len(picks), mine[ids[best]]))
            got += 1
            rest = [i for i in range(len(ids)) if i != best]
            iou = iou_f32(bx[best], bx[rest])
            if method == "gaussian":
                f = np.exp(-(iou * iou) / sigma)
            else:
                f = np.where(iou > nt, 1 - iou, 1.0)
            v = sc[rest] * np.where(iou > 0, f, 1.0)
            alive = (iou <= 0) | (v >= score_thr)
            ids = [ids[i] for i, ok in zip(rest, alive) if ok]
            sc = v[alive]
            bx = bx[[i for i, ok in zip(rest, alive) if ok]].reshape(-1, 4)
    picks.sort(key=lambda p: (-p[0], p[1]))
    picks = picks[:total] if total else picks
    return (np.array([boxes[p[2][1]] for p in picks], np.float32).reshape(-1, 4),
            np.array([p[0] for p in picks], np.float32), np.array([p[2][2] for p in picks]))


# ---- torchvision ----------------------------------------------------------------
inp = make_input([3000, 1200, 300], 5)
tv = {"plugin": "nms", "one_class_per_anchor": False, "pre_nms_topk": 1000, "max_detections": 300,
      "max_detections_per_class": 0, "clip_boxes": True}
check("torchvision postprocess (top 1000 per level, clip, batched_nms 0.5, keep 300)", tv, inp,
      tv_postprocess(*inp))
check("torchvision postprocess, all candidates, keep all",
      dict(tv, pre_nms_topk=0, max_detections=0), inp, tv_postprocess(*inp, topk=0, keep=0))
check("torchvision postprocess, top 50, IoU 0.3, no clip, min size 5",
      dict(tv, pre_nms_topk=50, iou_threshold=0.3, clip_boxes=False, min_box_size=5.0), inp,
      tv_postprocess(*inp, topk=50, iou=0.3, clip=False, min_size=5.0))
small = make_input([400, 150, 50], 3, objects=10)  # < 1000 boxes: batched_nms's offset trick
check("torchvision postprocess, few candidates", tv, small, tv_postprocess(*small))

# ---- KerasCV ------------------------------------------------------------------------
check("KerasCV (argmax class, per-class NMS, 100 per class, 100 in all)", {"plugin": "nms"}, inp,
      kerascv(inp[0], inp[1]))
check("KerasCV rule, 10 per class, 25 in all, confidence 0.5",
      {"plugin": "nms", "max_detections_per_class": 10, "max_detections": 25,
       "confidence_threshold": 0.5}, inp,
      kerascv(inp[0], inp[1], thr=0.5, per_class=10, total=25))
check("class-agnostic NMS 0.6, min size 8, keep all",
      {"plugin": "nms", "class_agnostic": True, "iou_threshold": 0.6, "min_box_size": 8,
       "max_detections": 0, "max_detections_per_class": 0}, inp,
      kerascv(inp[0], inp[1], iou=0.6, per_class=0, total=0, agnostic=True, min_size=8))

# ---- Soft-NMS -------------------------------------------------------------------------
check("Soft-NMS gaussian (sigma 0.5), per class", {"plugin": "soft_nms"}, inp,
      soft_nms(*inp), score_tol=1e-6)
check("Soft-NMS linear (Nt 0.4), all classes per anchor, top 300 per level, 200 in all",
      {"plugin": "soft_nms", "method": "linear", "iou_threshold": 0.4,
       "one_class_per_anchor": False, "pre_nms_topk": 300, "max_detections": 200}, inp,
      soft_nms(*inp, method="linear", nt=0.4, one_class=False, topk=300, total=200),
      score_tol=1e-6)
check("Soft-NMS gaussian (sigma 0.2), class-agnostic, score threshold 0.1",
      {"plugin": "soft_nms", "sigma": 0.2, "class_agnostic": True, "score_threshold": 0.1}, inp,
      soft_nms(*inp, sigma=0.2, agnostic=True, score_thr=0.1), score_tol=1e-6)

sys.exit(1 if failures else 0)
