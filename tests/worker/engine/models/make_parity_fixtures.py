#!/usr/bin/env python3
"""Writes PyTorch reference outputs for the C++ parity test (parity_test.cc).

Usage: make_parity_fixtures.py OUT_DIR

Builds, with Debian's python3-torch and python3-torchvision (timm is not installed):
  * small ViTs with exactly timm's module names (timm/models/vision_transformer.py):
    the fmnist_vit configuration and vit_tiny_patch16_clip_224 (the CLIP pre-norm
    variant: norm_pre, no patch-embedding bias, LayerNorm eps 1e-5);
  * torchvision's resnet18 and resnet50 (num_classes=10);
with every parameter and BatchNorm statistic randomised (seeded), and writes for each:
  <name>.safetensors       the state_dict, F32 (written by hand: json + struct)
  <name>.io.safetensors    input, eval-mode logits, and for fmnist_vit the loss and two
                           gradients of cross-entropy on fixed labels
plus resnet18.pt, a TorchScript (torch.jit.script) copy of resnet18.
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


# --- timm's ViT, reduced to the modules that hold state ------------------------------
class Attention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
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
    def __init__(self, dim, num_heads, eps):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, dim * 4)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch, in_chans, dim, bias):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch, stride=patch, bias=bias)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(nn.Module):
    def __init__(self, img_size, patch_size, embed_dim, depth, num_heads, num_classes,
                 pre_norm=False):
        super().__init__()
        eps = 1e-5 if pre_norm else 1e-6
        self.patch_embed = PatchEmbed(patch_size, 3, embed_dim, bias=not pre_norm)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        n = (img_size // patch_size) ** 2
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, embed_dim))
        self.norm_pre = nn.LayerNorm(embed_dim, eps=eps) if pre_norm else nn.Identity()
        self.blocks = nn.Sequential(*[Block(embed_dim, num_heads, eps) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=eps)
        self.head = nn.Linear(embed_dim, num_classes)

    def forward(self, x):
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm_pre(x)
        x = self.blocks(x)
        x = self.norm(x)
        return self.head(x[:, 0])


# --- safetensors by hand ------------------------------------------------------------
DTYPES = {torch.float32: "F32", torch.int64: "I64"}


def save_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        data = t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def randomise(model, gen):
    """Every parameter and BatchNorm statistic away from its initial value."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and ("norm" in name or "bn" in name or "downsample.1" in name) \
                    and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            else:
                fan_in = p[0].numel() if p.dim() > 1 else p.numel()
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(max(fan_in, 1)))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=gen))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=gen))
            elif name.endswith("num_batches_tracked"):
                b.fill_(7)


def write_case(out, name, model, image_size, gen, grads=False):
    randomise(model, gen)
    model.eval()
    x = torch.randn(3, 3, image_size, image_size, generator=gen)
    io = {"input": x}
    with torch.no_grad():
        io["logits"] = model(x)
    if grads:
        labels = torch.tensor([1, 4, 7])
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        io["labels"] = labels
        io["loss"] = loss.detach().reshape(1)
        params = dict(model.named_parameters())
        for p in ("head.weight", "blocks.0.attn.qkv.weight", "patch_embed.proj.weight",
                  "pos_embed"):
            io["grad." + p] = params[p].grad
    save_safetensors(os.path.join(out, name + ".safetensors"), model.state_dict())
    save_safetensors(os.path.join(out, name + ".io.safetensors"), io)
    return model


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(1234)
    write_case(out, "fmnist_vit",
               VisionTransformer(32, 4, 96, 4, 3, 10), 32, gen, grads=True)
    write_case(out, "vit_tiny_patch16_clip_224",
               VisionTransformer(224, 16, 192, 12, 3, 10, pre_norm=True), 224, gen)
    r18 = write_case(out, "resnet18", torchvision.models.resnet18(num_classes=10), 64, gen)
    torch.jit.script(r18).save(os.path.join(out, "resnet18.pt"))
    write_case(out, "resnet50", torchvision.models.resnet50(num_classes=10), 64, gen)


if __name__ == "__main__":
    main()
