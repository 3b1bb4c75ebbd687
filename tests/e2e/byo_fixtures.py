"""Writes, at test time, what a user brings to rib (tests/e2e/byo_test.sh): a Hugging Face
hub cache, a torchvision checkpoint folder and an ImageNet-style data root, each in the
layout its download has. Weights are random (seeded): the test checks that everything
loads, runs and is reported, not accuracy.

  byo_fixtures.py --hf-cache DIR --torch-home DIR --data DIR [--misnamed DIR]

  * DIR of --hf-cache: models--timm--vit_tiny_patch16_224.augreg_in21k_ft_in1k/ with
    refs/main, blobs/<sha256> and snapshots/<commit>/{model.safetensors -> blob,
    config.json} as huggingface_hub writes them; timm's parameter names, 1000 classes;
  * DIR of --torch-home: hub/checkpoints/resnet18-f37072fd.pth, torchvision's file name
    for ResNet18_Weights.IMAGENET1K_V1, written by torch.save(model.state_dict());
  * DIR of --data: sketch/<wnid>/*.JPEG (ImageNet-Sketch.zip unpacked), flat
    imagenet/val/ILSVRC2012_val_<8 digits>.JPEG + imagenet/LOC_val_solution.csv
    (Kaggle's), imagenet-r/<wnid>/*.jpg; 4 classes, 5 images each;
  * DIR of --misnamed: the same val photos in val/ at the top (a habit rib-data check
    reports with where it belongs).
For Debian's python3-torch, python3-torchvision and python3-pil; no download.
"""
import argparse
import hashlib
import json
import os
import sys

import torch
import torchvision
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "testing"))
from reference_models import VisionTransformer, save_safetensors  # noqa: E402

HUB_NAME = "vit_tiny_patch16_224.augreg_in21k_ft_in1k"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
# In ImageNet-R's 200 classes too: goldfish, great white shark, hammerhead, stingray.
WNIDS = ["n01443537", "n01484850", "n01494475", "n01498041"]
PER_CLASS = 5


def write_hub(cache):
    torch.manual_seed(0)
    vit = VisionTransformer(img_size=224, patch_size=16, embed_dim=192, depth=12,
                            num_heads=3, num_classes=1000)
    for p in vit.parameters():  # timm's zero-initialised tokens would hide bugs
        torch.nn.init.normal_(p, std=0.02)
    repo = os.path.join(cache, "models--timm--" + HUB_NAME)
    os.makedirs(os.path.join(repo, "blobs"), exist_ok=True)
    os.makedirs(os.path.join(repo, "refs"), exist_ok=True)
    snap = os.path.join(repo, "snapshots", COMMIT)
    os.makedirs(snap, exist_ok=True)
    tmp = os.path.join(repo, "blobs", "incoming")
    save_safetensors(tmp, vit.state_dict())
    with open(tmp, "rb") as f:
        blob = hashlib.sha256(f.read()).hexdigest()
    os.replace(tmp, os.path.join(repo, "blobs", blob))
    os.symlink(os.path.join("..", "..", "blobs", blob), os.path.join(snap, "model.safetensors"))
    # timm's push_to_hf_hub config.json for this model (pretrained_cfg as timm has it).
    config = {
        "architecture": "vit_tiny_patch16_224",
        "num_classes": 1000,
        "num_features": 192,
        "global_pool": "token",
        "pretrained_cfg": {
            "tag": "augreg_in21k_ft_in1k", "custom_load": True,
            "input_size": [3, 224, 224], "fixed_input_size": True,
            "interpolation": "bicubic", "crop_pct": 0.9, "crop_mode": "center",
            "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "num_classes": 1000,
            "pool_size": None, "first_conv": "patch_embed.proj", "classifier": "head"},
    }
    with open(os.path.join(snap, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(repo, "refs", "main"), "w") as f:
        f.write(COMMIT)  # no newline, as the hub writes it


def write_torch_home(torch_home):
    torch.manual_seed(1)
    model = torchvision.models.resnet18()  # random init, torchvision's names
    d = os.path.join(torch_home, "hub", "checkpoints")
    os.makedirs(d, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(d, "resnet18-f37072fd.pth"))


def image(cls, i, size=(64, 48)):
    # A class colour plus a per-image gradient: decodable, distinct, small.
    r, g, b = [(cls * 60 + 40 * k + i * 7) % 256 for k in range(3)]
    img = Image.new("RGB", size, (r, g, b))
    for x in range(0, size[0], 4):
        for y in range(size[1]):
            img.putpixel((x, y), ((r + x * 3) % 256, (g + y * 5) % 256, b))
    return img


def write_val(folder, csv_path):
    os.makedirs(folder, exist_ok=True)
    rows = ["ImageId,PredictionString"]
    n = 0
    for cls, wnid in enumerate(WNIDS):
        for i in range(PER_CLASS):
            n += 1
            name = "ILSVRC2012_val_%08d" % n
            image(cls, i).save(os.path.join(folder, name + ".JPEG"), quality=90)
            rows.append("%s,%s 1 2 40 30 " % (name, wnid))
    if csv_path:
        with open(csv_path, "w") as f:
            f.write("\n".join(rows) + "\n")


def write_data(root):
    for cls, wnid in enumerate(WNIDS):
        for folder, ext in (("sketch", "JPEG"), ("imagenet-r", "jpg")):
            d = os.path.join(root, folder, wnid)
            os.makedirs(d, exist_ok=True)
            for i in range(PER_CLASS):
                image(cls + 1, i + 3).save(os.path.join(d, "%s_%d.%s" % (folder, i, ext)))
    write_val(os.path.join(root, "imagenet", "val"),
              os.path.join(root, "imagenet", "LOC_val_solution.csv"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hf-cache", required=True)
    ap.add_argument("--torch-home", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--misnamed")
    a = ap.parse_args()
    write_hub(a.hf_cache)
    write_torch_home(a.torch_home)
    write_data(a.data)
    if a.misnamed:
        write_val(os.path.join(a.misnamed, "val"), None)


if __name__ == "__main__":
    main()
