"""Oracle for the two-conv SGD test: a small network in PyTorch, its initial
weights (HWIO, as kcv stores them), inputs, the loss of each step and the
weights after the last step. Usage: train_parity.py DIR STEPS"""
import sys

import numpy as np
import torch

sys.path.insert(0, sys.path[0])
import st_io  # noqa: E402

out_dir, steps = sys.argv[1], int(sys.argv[2])
torch.manual_seed(3)
torch.set_num_threads(1)
x = torch.randn(2, 3, 9, 11)
target = torch.randn(2, 4, 5, 6)
conv1 = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
conv2 = torch.nn.Conv2d(8, 4, 3, padding=1)
params = [conv1.weight, conv1.bias, conv2.weight, conv2.bias]


def hwio(w):
    return w.detach().permute(2, 3, 1, 0).numpy().copy()


init = {"conv1.weight": hwio(conv1.weight), "conv1.bias": conv1.bias.detach().numpy().copy(),
        "conv2.weight": hwio(conv2.weight), "conv2.bias": conv2.bias.detach().numpy().copy(),
        "x": x.permute(0, 2, 3, 1).numpy(), "target": target.permute(0, 2, 3, 1).numpy()}
st_io.save(f"{out_dir}/init.safetensors", init)
opt = torch.optim.SGD(params, lr=0.05, momentum=0.9)
losses = []
for _ in range(steps):
    opt.zero_grad()
    y = conv2(torch.relu(conv1(x)))
    loss = ((y - target) ** 2).mean()
    losses.append(loss.item())
    loss.backward()
    opt.step()
final = {"conv1.weight": hwio(conv1.weight), "conv1.bias": conv1.bias.detach().numpy(),
         "conv2.weight": hwio(conv2.weight), "conv2.bias": conv2.bias.detach().numpy(),
         "losses": np.array(losses, dtype=np.float32)}
st_io.save(f"{out_dir}/final.safetensors", final)
