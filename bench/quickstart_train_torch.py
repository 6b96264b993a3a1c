"""The quickstart recipe trained in PyTorch/torchvision on kcv's own synthetic
data, as a quality reference for pipelines/quickstart.json: the same
backbone (resnet_custom's conv3 stem, one basic block per stage, widths
32/64/128/256, batch norm or group norm), torchvision's FPN (64 channels,
P3-P5), RetinaNet heads cut to 2 GroupNorm convolutions, one anchor per
location (24/48/96), L1 box loss, AdamW 4e-3 (weight decay 0.05, 100 warm-up
steps, cosine), clip-norm 10, batch 16, the 8 flips/transposes.

    ./kcv data pipelines/quickstart.json --split train --export-voc /tmp/qsx/train
    ./kcv data pipelines/quickstart.json --split validation --export-voc /tmp/qsx/val
    /usr/bin/python3 bench/quickstart_train_torch.py bn 1200 1 /tmp/qsx/out
    ./kcv cocoeval --gt /tmp/qsx/out.gt.json --dt /tmp/qsx/out.dt.json

usage: quickstart_train_torch.py NORM(bn|gn) STEPS LOW_QUALITY_MATCHES(0|1) OUT
(data from /tmp/qsx or $QSX; writes OUT.gt.json and OUT.dt.json)"""
import json, math, os, sys, time
import xml.etree.ElementTree as ET
from collections import OrderedDict
import torch, torch.nn as nn, torch.nn.functional as F
from torchvision.io import read_image
from torchvision.models.detection.retinanet import RetinaNet, RetinaNetHead
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.ops import FeaturePyramidNetwork

NORM, STEPS, LOWQ, OUT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(2)
torch.manual_seed(0)
CLASSES = ["circle", "square", "triangle", "diamond", "plus", "star"]


def load(root, split):
    ids = open(f"{root}/VOC2007/ImageSets/Main/{split}.txt").read().split()
    ims, tg = [], []
    for i in ids:
        ims.append(read_image(f"{root}/VOC2007/JPEGImages/{i}.jpg"))
        r = ET.parse(f"{root}/VOC2007/Annotations/{i}.xml").getroot()
        b, l = [], []
        for o in r.findall("object"):
            n = o.find("name").text
            if n not in CLASSES:
                CLASSES.append(n)
            bb = o.find("bndbox")
            x0, y0, x1, y1 = (float(bb.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
            b.append([x0 - 1, y0 - 1, x1, y1])
            l.append(CLASSES.index(n))
        tg.append((torch.tensor(b, dtype=torch.float32).reshape(-1, 4), torch.tensor(l, dtype=torch.int64)))
    return torch.stack(ims), tg


def norm(c, groups=8):
    return nn.BatchNorm2d(c) if NORM == "bn" else nn.GroupNorm(groups, c)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False); self.bn1 = norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False); self.bn2 = norm(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), norm(cout))

    def forward(self, x):
        idt = x if self.down is None else self.down(x)
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + idt)


class Body(nn.Module):
    def __init__(self, widths=(32, 64, 128, 256), sw=32):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, sw // 2, 3, 2, 1, bias=False), norm(sw // 2), nn.ReLU(),
                                  nn.Conv2d(sw // 2, sw, 3, 2, 1, bias=False), norm(sw), nn.ReLU())
        cin, L = sw, []
        for s, w in enumerate(widths):
            L.append(Block(cin, w, 1 if s == 0 else 2)); cin = w
        self.layers = nn.ModuleList(L)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        self.fpn = FeaturePyramidNetwork(list(widths[1:]), 64)
        self.out_channels = 64

    def forward(self, x):
        x = self.stem(x)
        f = []
        for l in self.layers:
            x = l(x); f.append(x)
        return self.fpn(OrderedDict((str(i), t) for i, t in enumerate(f[1:])))


def main():
    root = os.environ.get("QSX", "/tmp/qsx")
    tr_x, tr_t = load(root + "/train", "train")
    va_x, va_t = load(root + "/val", "val")
    ag = AnchorGenerator(sizes=((24,), (48,), (96,)), aspect_ratios=((1.0,),) * 3)
    head = RetinaNetHead(64, 1, 6, norm_layer=lambda c: nn.GroupNorm(16, c))
    for h in (head.classification_head, head.regression_head):
        h.conv = nn.Sequential(*list(h.conv)[:2])
    model = RetinaNet(Body(), 6, min_size=256, max_size=256, anchor_generator=ag, head=head,
                      image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    if not LOWQ:
        model.proposal_matcher.allow_low_quality_matches = False
    model.head.regression_head._loss_type = "l1"
    opt = torch.optim.AdamW(model.parameters(), lr=4e-3, weight_decay=0.05)
    warm = 100
    def lr_at(s):
        if s < warm:
            return 4e-3 * (s + 1) / warm
        return 4e-3 * 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, STEPS - warm)))
    g = torch.Generator().manual_seed(1)
    order = torch.randperm(len(tr_x), generator=g)
    pos = 0
    t0 = time.time()
    model.train()
    for s in range(STEPS):
        if pos + 16 > len(order):
            order = torch.randperm(len(tr_x), generator=g); pos = 0
        idx = order[pos:pos + 16]; pos += 16
        ims, tgs = [], []
        for i in idx.tolist():
            im = tr_x[i].float() / 255.0
            b, l = tr_t[i]
            b = b.clone()
            W = 256
            if torch.rand(1, generator=g) < 0.5:  # horizontal flip
                im = im.flip(-1); b[:, [0, 2]] = W - b[:, [2, 0]]
            if torch.rand(1, generator=g) < 0.5:  # vertical flip
                im = im.flip(-2); b[:, [1, 3]] = W - b[:, [3, 1]]
            if torch.rand(1, generator=g) < 0.5:  # transpose
                im = im.transpose(-1, -2); b = b[:, [1, 0, 3, 2]]
            ims.append(im); tgs.append({"boxes": b, "labels": l})
        for pg in opt.param_groups:
            pg["lr"] = lr_at(s)
        loss = model(ims, tgs)
        tot = loss["classification"] + loss["bbox_regression"]
        opt.zero_grad(); tot.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        if s % 100 == 0:
            print(f"step {s} loss {tot.item():.4f} cls {loss['classification'].item():.4f} box {loss['bbox_regression'].item():.4f} {time.time()-t0:.0f}s", flush=True)
    train_s = time.time() - t0
    model.eval()
    dets, gts, anns = [], [], []
    with torch.no_grad():
        for i in range(0, len(va_x), 16):
            out = model([x.float() / 255.0 for x in va_x[i:i + 16]])
            for j, o in enumerate(out):
                for b, sc, lb in zip(o["boxes"].tolist(), o["scores"].tolist(), o["labels"].tolist()):
                    dets.append({"image_id": i + j, "category_id": lb, "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "score": sc})
    aid = 1
    for i, (b, l) in enumerate(va_t):
        gts.append({"id": i, "width": 256, "height": 256})
        for bb, ll in zip(b.tolist(), l.tolist()):
            anns.append({"id": aid, "image_id": i, "category_id": ll, "bbox": [bb[0], bb[1], bb[2] - bb[0], bb[3] - bb[1]], "area": (bb[2] - bb[0]) * (bb[3] - bb[1]), "iscrowd": 0}); aid += 1
    json.dump({"images": gts, "annotations": anns, "categories": [{"id": k, "name": n} for k, n in enumerate(CLASSES)]}, open(OUT + ".gt.json", "w"))
    json.dump(dets, open(OUT + ".dt.json", "w"))
    print(f"trained {STEPS} steps in {train_s:.0f}s ({STEPS*16/train_s:.1f} img/s)")


main()
