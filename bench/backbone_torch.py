"""PyTorch side of bench/backbone.sh: a frozen torchvision ResNet50 body
(conv1..layer4, batch norm in eval mode) at its fastest float32 setting on
this CPU: channels_last, torch.jit.freeze, no autograd. Prints one JSON line.
Usage: backbone_torch.py THREADS BATCH SIZE REPEAT"""
import json
import resource
import sys
import time

import torch
import torchvision

threads, batch, size, repeat = (int(a) for a in sys.argv[1:5])
torch.set_num_threads(threads)
m = torchvision.models.resnet50(weights=None).eval()
body = torch.nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool, m.layer1, m.layer2, m.layer3,
                     m.layer4).eval()
x = torch.rand(batch, 3, size, size) * 255
body = body.to(memory_format=torch.channels_last)
x = x.contiguous(memory_format=torch.channels_last)
with torch.no_grad():
    frozen = torch.jit.freeze(torch.jit.trace(body, x))
    frozen(x)  # warm-up (and the JIT's own optimisation passes)
    frozen(x)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        frozen(x)
        best = min(best, time.perf_counter() - t0)
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": best, "images_per_s": batch / best, "peak_rss_mb": rss_mb,
                  "torch": torch.__version__, "threads": threads}))
