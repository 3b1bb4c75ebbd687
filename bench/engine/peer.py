#!/usr/bin/env python3
"""The Python peer of rib-bench-engine: the same models, weights, data, thread count and
training step, as a plain PyTorch loop (what a researcher would write), on Debian's
python3-torch (the same libtorch as the engine).

Usage: peer.py --dir DIR [--threads N] [--cases a,b] [--device cpu|cuda]
               [--precision fp32|bf16|fp16]
Reads DIR/<case>.cpp.json (batch sizes, steps, lr), <case>.init.safetensors and
<case>.data.safetensors written by rib-bench-engine; writes DIR/<case>.py.json.

ViT-B/16 and ResNet-50 (scripts/gpu_check.sh) run as timm's vit_base_patch16_224 and
torchvision's resnet50 where those are installed (random weights: the engine's initial
ones; nothing is downloaded), and the engine's initial logits are compared with that
module's on the CPU in fp32 ("parity_max_abs_diff"). On CUDA, bf16 and fp16 autocast as
torch.autocast does, fp16 with torch.amp.GradScaler.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F
from torchvision.models.resnet import BasicBlock

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "testing"))
from reference_models import ResNet, VisionTransformer, read_safetensors  # noqa: E402


def timm_or(name, fallback):
    """timm's module of that name when timm is installed, else the reference module."""
    try:
        import timm
    except ImportError:
        return fallback(), "tests/testing/reference_models.py"
    return timm.create_model(name, pretrained=False, num_classes=1000), "timm." + name


def torchvision_resnet50():
    from torchvision.models import resnet50
    return resnet50(), "torchvision.models.resnet50"


# Each case: a function returning (module, where the module comes from).
MODELS = {
    "fmnist_vit": lambda: (VisionTransformer(32, 4, 96, 4, 3, 10), "reference"),
    "fmnist_resnet": lambda: (ResNet(BasicBlock, [2, 2, 2, 2], [16, 32, 64, 128], 16, True,
                                     10), "reference"),
    "vit_small_patch16_224": lambda: (VisionTransformer(224, 16, 384, 12, 6, 1000),
                                      "reference"),
    "vit_base_patch16_224": lambda: timm_or(
        "vit_base_patch16_224", lambda: VisionTransformer(224, 16, 768, 12, 12, 1000)),
    "resnet50": torchvision_resnet50,
}


AUTOCAST = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def run_case(directory, name, device, precision):
    cfg = json.load(open("%s/%s.cpp.json" % (directory, name)))
    torch.manual_seed(0)
    model, module = MODELS[name]()
    model.load_state_dict(read_safetensors("%s/%s.init.safetensors" % (directory, name)))
    data = read_safetensors("%s/%s.data.safetensors" % (directory, name))
    pool = 4
    train_x = [data["train_x.%d" % i] for i in range(pool)]
    train_y = [data["train_y.%d" % i] for i in range(pool)]
    eval_x = [data["eval_x.%d" % i] for i in range(pool)]

    parity = None
    init_logits = "%s/%s.init_logits.safetensors" % (directory, name)
    if os.path.exists(init_logits):
        theirs = read_safetensors(init_logits)["logits"]
        model.eval()
        with torch.no_grad():
            ours = model(eval_x[0][:theirs.shape[0]])
        parity = float((ours.double() - theirs.double()).abs().max())

    dtype = AUTOCAST[precision] if device == "cuda" else None
    model = model.to(device)
    train_x = [x.to(device) for x in train_x]
    train_y = [y.to(device) for y in train_y]
    eval_x = [x.to(device) for x in eval_x]

    def autocast():
        return torch.autocast("cuda", dtype=dtype, enabled=dtype is not None)

    fp16 = dtype == torch.float16
    if hasattr(torch.amp, "GradScaler"):  # torch >= 2.3
        scaler = torch.amp.GradScaler("cuda", enabled=fp16)
    else:  # Debian's torch 1.13
        scaler = torch.cuda.amp.GradScaler(enabled=fp16)
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=0.9)
    losses = []
    step = [0]

    def train_step():
        i = step[0] % pool
        step[0] += 1
        opt.zero_grad()
        with autocast():
            loss = F.cross_entropy(model(train_x[i]), train_y[i])
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
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
    ours = {k: v.cpu() for k, v in model.state_dict().items()}
    weight_diff = max(float((ours[k].double() - theirs[k].double()).abs().max())
                      if ours[k].numel() else 0.0 for k in ours)
    weights_identical = all(torch.equal(ours[k], theirs[k]) for k in ours)

    # The engine may keep convolution weights channels-last (a different kernel, so the
    # losses above match only to rounding). Replay the steps, untimed, with the same layout:
    # these losses must equal the engine's bit for bit.
    same_layout_losses = None
    if cfg.get("memory_format") == "channels_last" and device == "cpu":
        torch.manual_seed(0)
        replica = MODELS[name]()[0]
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
    with torch.no_grad(), autocast():
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
              "weight_max_abs_diff": weight_diff, "device": device,
              "precision": precision, "module": module, "parity_max_abs_diff": parity}
    with open("%s/%s.py.json" % (directory, name), "w") as f:
        json.dump(result, f)
    print("[py]  %-24s train %8.1f img/s  eval %8.1f img/s" % (name, best_train, best_eval),
          flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--cases", default="fmnist_vit,fmnist_resnet,vit_small_patch16_224")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--precision", choices=sorted(AUTOCAST), default="fp32")
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    for name in args.cases.split(","):
        run_case(args.dir, name, args.device, args.precision)


if __name__ == "__main__":
    main()
