"""The quickstart's training step in PyTorch: the network of
bench/quickstart_step.c (resnet_custom backbone with batch or group norm, FPN of 64
channels on P3-P5, two heads of two 3x3 convolutions with group norm, mean
of squares of the outputs as the loss), forward + backward, no optimizer.
float32, channels_last. Run by bench/quickstart_step.sh; prints one JSON
line: the fastest and the median step in ms.

usage: quickstart_step_torch.py THREADS BATCH SIZE STEPS WARMUP STEM
(STEM: conv7, conv3 or conv3_pool, as resnet_custom's option)"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

FPN, CLASSES, GROUPS, HEAD_GROUPS = 64, 6, 8, 16


NORM = sys.argv[7] if len(sys.argv) > 7 else "batch"


def gn(c):
    return nn.BatchNorm2d(c) if NORM == "batch" else nn.GroupNorm(GROUPS, c)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = gn(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = gn(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), gn(cout))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + idt)


class Net(nn.Module):
    def __init__(self, stem, widths=(32, 64, 128, 256), stem_width=32):
        super().__init__()
        if stem == "conv7":
            self.stem = nn.Sequential(nn.Conv2d(3, stem_width, 7, 2, 3, bias=False), gn(stem_width),
                                      nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        elif stem == "conv3":
            h = stem_width // 2
            self.stem = nn.Sequential(nn.Conv2d(3, h, 3, 2, 1, bias=False), gn(h), nn.ReLU(),
                                      nn.Conv2d(h, stem_width, 3, 2, 1, bias=False), gn(stem_width),
                                      nn.ReLU())
        else:
            self.stem = nn.Sequential(nn.Conv2d(3, stem_width, 3, 2, 1, bias=False), gn(stem_width),
                                      nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        cin, layers = stem_width, []
        for s, w in enumerate(widths):
            layers.append(Block(cin, w, 1 if s == 0 else 2))
            cin = w
        self.layers = nn.ModuleList(layers)
        self.inner = nn.ModuleList(nn.Conv2d(c, FPN, 1) for c in widths[1:])
        self.outer = nn.ModuleList(nn.Conv2d(FPN, FPN, 3, 1, 1) for _ in widths[1:])

        def head(n):
            return nn.Sequential(nn.Conv2d(FPN, FPN, 3, 1, 1, bias=False),
                                 nn.GroupNorm(HEAD_GROUPS, FPN), nn.ReLU(),
                                 nn.Conv2d(FPN, FPN, 3, 1, 1, bias=False),
                                 nn.GroupNorm(HEAD_GROUPS, FPN), nn.ReLU(),
                                 nn.Conv2d(FPN, n, 3, 1, 1))
        self.cls, self.box = head(CLASSES), head(4)

    def forward(self, x):
        x = (x / 255.0 - 0.45) / 0.225
        x = self.stem(x)
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        lat = [m(f) for m, f in zip(self.inner, feats[1:])]
        top, pyr = lat[2], [None, None, lat[2]]
        for i in (1, 0):
            top = lat[i] + F.interpolate(top, size=lat[i].shape[-2:], mode="nearest")
            pyr[i] = top
        loss = 0
        for p, m in zip(pyr, self.outer):
            p = m(p)
            loss = loss + self.cls(p).square().mean() + self.box(p).square().mean()
        return loss


def main():
    threads, batch, size, steps, warmup = (int(a) for a in sys.argv[1:6])
    stem = sys.argv[6] if len(sys.argv) > 6 else "conv3"
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = Net(stem).to(memory_format=torch.channels_last)
    x = (torch.rand(batch, 3, size, size) * 255).contiguous(memory_format=torch.channels_last)
    times, fwd = [], []
    for s in range(warmup + steps):
        for p in net.parameters():
            p.grad = None
        t0 = time.perf_counter()
        loss = net(x)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        if s >= warmup:
            times.append(1e3 * (t2 - t0))
            fwd.append((1e3 * (t1 - t0), 1e3 * (t2 - t1)))
    best = min(range(steps), key=lambda i: times[i])
    print(json.dumps({"side": "torch", "version": torch.__version__, "threads": threads,
                      "batch": batch, "size": size, "steps": steps,
                      "best_ms": round(times[best], 1),
                      "median_ms": round(sorted(times)[steps // 2], 1),
                      "forward_ms": round(fwd[best][0], 1), "backward_ms": round(fwd[best][1], 1),
                      "images_per_s": round(1e3 * batch / times[best], 1)}))


if __name__ == "__main__":
    main()
