"""Oracle for resnet_custom (tests/resnet_custom.sh): the same network in
PyTorch (torchvision's ResNet blocks and key names, group norm or batch norm
in training mode: then the running statistics after the step too), random
weights with non-trivial norm parameters, a random input of an odd size and
random R_l; writes the weights (torchvision names, OIHW), the input, R and
the expected C2..C5 with the gradients of sum_l sum(C_l * R_l) for every
parameter (in kcv's layout: HWIO kernels) under "grad.<name>".

usage: resnet_custom_parity.py CASE DIR -> DIR/{weights,input,r,expected}.safetensors
and prints the JSON spec of the case (for backbone_tool --spec)."""
import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, sys.path[0])
import st_io  # noqa: E402

CASES = {
    # the quickstart's backbone: Winograd 3x3 convolutions, strided ones,
    # partial tiles (odd map sizes)
    "basic_conv3": dict(block="basic", depths=[1, 1, 1, 1], widths=[32, 64, 128, 256],
                        stem="conv3", stem_width=32, groups=8, batch=4, h=70, w=90),
    "bottleneck_conv7": dict(block="bottleneck", depths=[1, 2, 1, 1], widths=[64, 128, 128, 256],
                             stem="conv7", stem_width=32, groups=4, batch=2, h=61, w=48),
    "basic_pool": dict(block="basic", depths=[2, 1, 1, 1], widths=[16, 32, 48, 64],
                       stem="conv3_pool", stem_width=16, groups=2, batch=3, h=40, w=52),
    # norm "batch": torch.nn.BatchNorm2d in training mode (momentum 0.3)
    "basic_batch": dict(block="basic", depths=[1, 1, 1, 1], widths=[32, 64, 128, 256],
                        stem="conv3", stem_width=32, groups=8, batch=3, h=45, w=38,
                        norm="batch"),
}


class Basic(nn.Module):
    def __init__(self, cin, cout, stride, gn):
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
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + idt)


class Bottleneck(nn.Module):
    def __init__(self, cin, cout, stride, gn):
        super().__init__()
        p = cout // 4
        self.conv1, self.bn1 = nn.Conv2d(cin, p, 1, bias=False), gn(p)
        self.conv2, self.bn2 = nn.Conv2d(p, p, 3, stride, 1, bias=False), gn(p)
        self.conv3, self.bn3 = nn.Conv2d(p, cout, 1, bias=False), gn(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), gn(cout))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        return F.relu(self.bn3(self.conv3(y)) + idt)


class Net(nn.Module):
    def __init__(self, c):
        super().__init__()
        def gn(ch):
            if c.get("norm") == "batch":
                return nn.BatchNorm2d(ch, momentum=0.3)
            return nn.GroupNorm(c["groups"], ch)
        sw, self.stem = c["stem_width"], c["stem"]
        if self.stem == "conv7":
            self.conv1, self.bn1 = nn.Conv2d(3, sw, 7, 2, 3, bias=False), gn(sw)
        elif self.stem == "conv3":
            self.conv1, self.bn1 = nn.Conv2d(3, sw // 2, 3, 2, 1, bias=False), gn(sw // 2)
            self.conv2, self.bn2 = nn.Conv2d(sw // 2, sw, 3, 2, 1, bias=False), gn(sw)
        else:
            self.conv1, self.bn1 = nn.Conv2d(3, sw, 3, 2, 1, bias=False), gn(sw)
        block = Basic if c["block"] == "basic" else Bottleneck
        cin = sw
        for s, (d, w) in enumerate(zip(c["depths"], c["widths"])):
            blocks = []
            for b in range(d):
                blocks.append(block(cin, w, 2 if b == 0 and s > 0 else 1, gn))
                cin = w
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))

    def forward(self, x):
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        x = (x / 255.0 - mean) / std
        x = F.relu(self.bn1(self.conv1(x)))
        if self.stem == "conv3":
            x = F.relu(self.bn2(self.conv2(x)))
        else:
            x = F.max_pool2d(x, 3, 2, 1)
        out = []
        for s in range(4):
            x = getattr(self, f"layer{s + 1}")(x)
            out.append(x)
        return out


def main():
    case, out_dir = sys.argv[1], sys.argv[2]
    c = CASES[case]
    torch.manual_seed(11)
    torch.set_num_threads(2)
    net = Net(c).double()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.GroupNorm, nn.BatchNorm2d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    # float32 values, computed in float64: the reference
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(p.float().double())
    x = (torch.rand(c["batch"], 3, c["h"], c["w"]) * 255).double()
    weights = {k: v.float().numpy() for k, v in net.state_dict().items()}
    net.train()
    feats = net(x)
    rs = [torch.randn(f.shape, dtype=torch.float64).float().double() for f in feats]
    loss = sum((f * r).sum() for f, r in zip(feats, rs))
    loss.backward()
    nchw = lambda t: t.detach().permute(0, 2, 3, 1).float().numpy()
    st_io.save(f"{out_dir}/input.safetensors", {"images": nchw(x)})
    st_io.save(f"{out_dir}/r.safetensors", {f"R{i + 2}": nchw(r) for i, r in enumerate(rs)})
    st_io.save(f"{out_dir}/weights.safetensors", weights)
    expected = {f"C{i + 2}": nchw(f) for i, f in enumerate(feats)}
    for name, b in net.named_buffers():  # the running statistics after the step
        if name.endswith(("running_mean", "running_var")):
            expected["param." + name] = b.float().numpy()
    for name, p in net.named_parameters():
        g = p.grad.float()
        expected["grad." + name] = (g.permute(2, 3, 1, 0) if g.dim() == 4 else g).numpy()
    st_io.save(f"{out_dir}/expected.safetensors", expected)
    spec = {"plugin": "resnet_custom", "block": c["block"], "depths": c["depths"],
            "widths": c["widths"], "stem": c["stem"], "stem_width": c["stem_width"],
            "norm": c.get("norm", "group"), "norm_groups": c["groups"], "trainable": True,
            "input_normalization": "imagenet"}
    if c.get("norm") == "batch":
        spec["norm_momentum"] = 0.3
    print(json.dumps(spec))


if __name__ == "__main__":
    main()
