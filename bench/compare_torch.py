"""PyTorch's side of bench/compare.sh: torchvision's RetinaNet-R50-FPN with a
frozen backbone (FrozenBatchNorm2d, trainable_backbone_layers=0, random
weights: speed does not depend on them), 512x512 images, batch B. Times a
training step (forward with the losses, backward, SGD with momentum) and
inference (forward + torchvision's decoder: per-level top-k, NMS), after
warm-up steps, and prints one JSON object.

usage: compare_torch.py THREADS BATCH SIZE STEPS WARMUP PRECISION LAYOUT CLASSES
  PRECISION: fp32 | bf16 (backbone and head under torch.autocast on the CPU,
             oneDNN's bf16/AMX kernels; losses and decoder in float32)
  LAYOUT: channels_last | contiguous"""
import json
import resource
import sys
import time

import torch
from torchvision.models import resnet50
from torchvision.models.detection import RetinaNet
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops.feature_pyramid_network import LastLevelP6P7
from torchvision.ops.misc import FrozenBatchNorm2d


class Autocast(torch.nn.Module):
    """Runs a module (or function) under CPU bf16 autocast; float32 outputs."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.out_channels = getattr(fn, "out_channels", None)

    def forward(self, *args):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = self.fn(*args)
        if isinstance(out, dict):
            return type(out)((k, v.float()) for k, v in out.items())
        return out.float()


def main():
    threads, batch, size, steps, warmup = (int(a) for a in sys.argv[1:6])
    precision, layout, classes = sys.argv[6], sys.argv[7], int(sys.argv[8])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    # retinanet_resnet50_fpn() without pretrained weights would train every
    # layer with BatchNorm2d: build the frozen model as with ImageNet weights
    body = resnet50(norm_layer=FrozenBatchNorm2d)
    backbone = _resnet_fpn_extractor(body, 0, returned_layers=[2, 3, 4],
                                     extra_blocks=LastLevelP6P7(256, 256))
    model = RetinaNet(backbone, classes, min_size=size, max_size=size)
    if layout == "channels_last":
        model = model.to(memory_format=torch.channels_last)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-4, momentum=0.9)
    g = torch.Generator().manual_seed(1)
    images = [torch.rand(3, size, size, generator=g) for _ in range(batch)]
    targets = []
    for _ in range(batch):
        n = 3
        xy = torch.rand(n, 2, generator=g) * size * 0.6
        wh = 32 + torch.rand(n, 2, generator=g) * size * 0.35
        targets.append({"boxes": torch.cat([xy, xy + wh], 1),
                        "labels": torch.randint(0, classes, (n,), generator=g)})
    if precision == "bf16":  # the network in bf16, the losses and the decoder in float32
        model.backbone = Autocast(model.backbone)
        model.head.forward = Autocast(model.head.forward)

    def train_step():
        loss = model(images, targets)
        total = loss["classification"] + loss["bbox_regression"]
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()

    def infer_step():
        with torch.no_grad():
            model(images)

    out = {"side": "torch", "version": torch.__version__, "precision": precision,
           "layout": layout, "threads": threads, "batch": batch, "size": size}
    for name, fn, train in (("train", train_step, True), ("inference", infer_step, False)):
        model.train(train)
        times = []
        for s in range(warmup + steps):
            t0 = time.perf_counter()
            fn()
            if s >= warmup:
                times.append(time.perf_counter() - t0)
        out[name + "_images_per_s"] = batch / min(times)
        out[name + "_median_s"] = sorted(times)[len(times) // 2]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(out))


if __name__ == "__main__":
    main()
