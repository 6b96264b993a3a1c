"""Oracle for `kcv features`: a randomly initialised torchvision ResNet with
non-trivial batch-norm statistics, its weights as safetensors, a random
input of an odd size, and torchvision's layer1..layer4 outputs (C2..C5).
Usage: resnet_parity.py ARCH DIR  -> writes DIR/weights.safetensors,
DIR/input.safetensors, DIR/expected.safetensors."""
import sys

import numpy as np
import torch
import torchvision

sys.path.insert(0, sys.path[0])
import st_io  # noqa: E402

arch, out_dir = sys.argv[1], sys.argv[2]
torch.manual_seed(7)
torch.set_num_threads(2)
model = getattr(torchvision.models, arch)(weights=None).eval()
with torch.no_grad():
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.3, 0.3)
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
state = {k: v.numpy() for k, v in model.state_dict().items() if v.dtype == torch.float32}
st_io.save(f"{out_dir}/weights.safetensors", state)
x = torch.randn(2, 3, 75, 61) * 50 + 100  # odd sizes, 0..255-ish values
st_io.save(f"{out_dir}/input.safetensors", {"images": x.permute(0, 2, 3, 1).numpy()})
with torch.no_grad():
    h = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    feats = {}
    for i, layer in enumerate([model.layer1, model.layer2, model.layer3, model.layer4]):
        h = layer(h)
        feats[f"C{i + 2}"] = h.permute(0, 2, 3, 1).numpy()
st_io.save(f"{out_dir}/expected.safetensors", feats)
