#!/usr/bin/env python3
"""Writes PyTorch reference outputs for the C++ parity test (parity_test.cc).

Usage: make_parity_fixtures.py OUT_DIR

Builds, with Debian's python3-torch and python3-torchvision (timm is not installed):
  * small ViTs with exactly timm's module names (tests/testing/reference_models.py):
    the fmnist_vit configuration and vit_tiny_patch16_clip_224 (the CLIP pre-norm
    variant: norm_pre, no patch-embedding bias, LayerNorm eps 1e-5);
  * torchvision's resnet18 and resnet50 (num_classes=10);
with every parameter and BatchNorm statistic randomised (seeded), and writes for each:
  <name>.safetensors       the state_dict, F32 (written by hand: json + struct)
  <name>.io.safetensors    input, eval-mode logits, and for fmnist_vit the loss and two
                           gradients of cross-entropy on fixed labels
plus resnet18.pt, a TorchScript (torch.jit.script) copy of resnet18.
"""
import math
import os
import sys

import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "testing"))
from reference_models import VisionTransformer, save_safetensors  # noqa: E402


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
