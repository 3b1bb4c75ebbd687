#!/usr/bin/env python3
"""The Python peer of rib-bench-engine: the same models, weights, data, thread count and
training step, as a plain PyTorch loop (what a researcher would write), on Debian's
python3-torch (the same libtorch as the engine).

Usage: peer.py --dir DIR [--threads N] [--cases a,b]
Reads DIR/<case>.cpp.json (batch sizes, steps, lr), <case>.init.safetensors and
<case>.data.safetensors written by rib-bench-engine; writes DIR/<case>.py.json.
"""
import argparse
import json
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.resnet import BasicBlock, Bottleneck


# --- the models, with timm / torchvision names ---------------------------------------
class Attention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        q = q * self.scale
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, dim * 4)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch, dim):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(nn.Module):
    def __init__(self, img_size, patch_size, dim, depth, num_heads, num_classes):
        super().__init__()
        self.patch_embed = PatchEmbed(patch_size, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, (img_size // patch_size) ** 2 + 1, dim))
        self.blocks = nn.Sequential(*[Block(dim, num_heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


class ResNet(nn.Module):
    """torchvision's ResNet with configurable widths and the small 3x3 stem."""

    def __init__(self, block, layers, widths, stem, small_stem, num_classes):
        super().__init__()
        if small_stem:
            self.conv1 = nn.Conv2d(3, stem, 3, 1, 1, bias=False)
        else:
            self.conv1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False)
        self.small_stem = small_stem
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = stem
        for i, (n, w) in enumerate(zip(layers, widths)):
            blocks = []
            for b in range(n):
                stride = 2 if (i > 0 and b == 0) else 1
                down = None
                if stride != 1 or inplanes != w * block.expansion:
                    down = nn.Sequential(
                        nn.Conv2d(inplanes, w * block.expansion, 1, stride, bias=False),
                        nn.BatchNorm2d(w * block.expansion))
                blocks.append(block(inplanes, w, stride, down))
                inplanes = w * block.expansion
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, num_classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        if not self.small_stem:
            x = self.maxpool(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


MODELS = {
    "fmnist_vit": lambda: VisionTransformer(32, 4, 96, 4, 3, 10),
    "fmnist_resnet": lambda: ResNet(BasicBlock, [2, 2, 2, 2], [16, 32, 64, 128], 16, True, 10),
    "vit_small_patch16_224": lambda: VisionTransformer(224, 16, 384, 12, 6, 1000),
}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F32": np.float32, "I64": np.int64}
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        arr = np.frombuffer(data[b:end], dtype=dtypes[e["dtype"]]).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def run_case(directory, name):
    cfg = json.load(open("%s/%s.cpp.json" % (directory, name)))
    torch.manual_seed(0)
    model = MODELS[name]()
    model.load_state_dict(read_safetensors("%s/%s.init.safetensors" % (directory, name)))
    data = read_safetensors("%s/%s.data.safetensors" % (directory, name))
    pool = 4
    train_x = [data["train_x.%d" % i] for i in range(pool)]
    train_y = [data["train_y.%d" % i] for i in range(pool)]
    eval_x = [data["eval_x.%d" % i] for i in range(pool)]

    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=0.9)
    losses = []
    step = [0]

    def train_step():
        i = step[0] % pool
        step[0] += 1
        opt.zero_grad()
        loss = F.cross_entropy(model(train_x[i]), train_y[i])
        loss.backward()
        opt.step()
        losses.append(loss.item())

    model.train()
    for _ in range(cfg["warmup_steps"]):
        train_step()
    best_train = best_train_cpu = 0.0
    n = cfg["timed_steps"] * cfg["train_batch"]
    for _ in range(cfg["repeats"]):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(cfg["timed_steps"]):
            train_step()
        best_train = max(best_train, n / (time.perf_counter() - t0))
        best_train_cpu = max(best_train_cpu, n / (time.process_time() - c0))

    # Compare the trained weights with the engine's after the same steps.
    theirs = read_safetensors("%s/%s.final.safetensors" % (directory, name))
    ours = model.state_dict()
    weight_diff = max(float((ours[k].double() - theirs[k].double()).abs().max())
                      if ours[k].numel() else 0.0 for k in ours)
    weights_identical = all(torch.equal(ours[k], theirs[k]) for k in ours)

    # The engine may keep convolution weights channels-last (a different kernel, so the
    # losses above match only to rounding). Replay the steps, untimed, with the same layout:
    # these losses must equal the engine's bit for bit.
    same_layout_losses = None
    if cfg.get("memory_format") == "channels_last":
        torch.manual_seed(0)
        replica = MODELS[name]()
        replica.load_state_dict(read_safetensors("%s/%s.init.safetensors" % (directory, name)))
        replica = replica.to(memory_format=torch.channels_last).train()
        replica_opt = torch.optim.SGD(replica.parameters(), lr=cfg["lr"], momentum=0.9)
        same_layout_losses = []
        for k in range(len(losses)):
            i = k % pool
            replica_opt.zero_grad()
            loss = F.cross_entropy(replica(train_x[i]), train_y[i])
            loss.backward()
            replica_opt.step()
            same_layout_losses.append(loss.item())

    model.eval()
    best_eval = best_eval_cpu = 0.0
    n = cfg["eval_batches"] * cfg["eval_batch"]
    with torch.no_grad():
        model(eval_x[0])
        for _ in range(cfg["repeats"]):
            t0, c0 = time.perf_counter(), time.process_time()
            for i in range(cfg["eval_batches"]):
                model(eval_x[i % pool]).sum().item()
            best_eval = max(best_eval, n / (time.perf_counter() - t0))
            best_eval_cpu = max(best_eval_cpu, n / (time.process_time() - c0))
    result = {"case": name, "threads": torch.get_num_threads(),
              "train_images_per_s": best_train, "eval_images_per_s": best_eval,
              "train_images_per_cpu_s": best_train_cpu, "eval_images_per_cpu_s": best_eval_cpu,
              "losses": losses, "same_layout_losses": same_layout_losses,
              "weights_identical": weights_identical,
              "weight_max_abs_diff": weight_diff}
    with open("%s/%s.py.json" % (directory, name), "w") as f:
        json.dump(result, f)
    print("[py]  %-24s train %8.1f img/s  eval %8.1f img/s" % (name, best_train, best_eval),
          flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--cases", default="fmnist_vit,fmnist_resnet,vit_small_patch16_224")
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    for name in args.cases.split(","):
        run_case(args.dir, name)


if __name__ == "__main__":
    main()
