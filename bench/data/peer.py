"""The torchvision side of bench/data/run.sh: ImageFolder + DataLoader with the same
preprocessing (Resize(int(224 / 0.875)) bicubic via PIL, CenterCrop(224), Normalize),
then the comparison table."""
import argparse
import resource
import time

import numpy as np
import torch
import torchvision
from torchvision import transforms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--dump", type=int, default=100)
    ap.add_argument("--rib-result", required=True)
    ap.add_argument("--before-result", help="the same output of an older rib-bench-data")
    a = ap.parse_args()

    torch.set_num_threads(1)
    tf = transforms.Compose([
        transforms.Resize(int(224 / 0.875), interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])
    ds = torchvision.datasets.ImageFolder(a.dir + "/imagenet-sketch", transform=tf)
    best = best_cpu = float("inf")

    def cpu():
        s = resource.getrusage(resource.RUSAGE_SELF)
        c = resource.getrusage(resource.RUSAGE_CHILDREN)  # the (joined) DataLoader workers
        return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime

    for e in range(a.epochs):
        cpu0 = cpu()
        start = time.perf_counter()
        dl = torch.utils.data.DataLoader(ds, batch_size=a.batch, shuffle=False,
                                         num_workers=a.threads)
        n = 0
        for x, _ in dl:
            n += x.shape[0]
        secs = time.perf_counter() - start
        del dl  # joins the workers, so that their CPU time is counted
        best = min(best, secs)
        best_cpu = min(best_cpu, cpu() - cpu0)
        print(f"torchvision epoch {e}: {n} images in {secs:.2f} s", flush=True)
    peer_ips = len(ds) / best

    rib = dict(line.split() for line in open(a.rib_result) if line.strip())
    rib_ips = float(rib["rib_images_per_s"])
    rib_cpu = float(rib["rib_cpu_ms_per_image"])
    peer_cpu = 1e3 * best_cpu / len(ds)
    k = min(a.dump, len(ds))
    ref = np.stack([ds[i][0].numpy() for i in range(k)])
    diffs = {}
    for backend in ("pil", "aten", "opencv"):
        out = np.fromfile(f"{a.dir}/out/rib_{backend}.f32", dtype=np.float32).reshape(ref.shape)
        d = np.abs(out - ref)
        # In 8-bit levels of the un-normalised image (normalised diff * std * 255).
        std = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 3, 1, 1)
        lv = d * std * 255
        diffs[backend] = (float(d.max()), float(lv.max()), float(lv.mean()))

    print()
    print(f"{'pipeline':<44}{'images/s':>10}{'CPU ms/image':>14}")
    if a.before_result:
        old = dict(line.split() for line in open(a.before_result) if line.strip())
        old_ips, old_cpu = float(old["rib_images_per_s"]), float(old["rib_cpu_ms_per_image"])
        print(f"{'rib BatchLoader (BEFORE binary)':<44}{old_ips:>10.1f}{old_cpu:>14.2f}")
        print(f"{'  ratio before / torchvision':<44}{old_ips / peer_ips:>9.2f}x"
              f"{peer_cpu / old_cpu:>13.2f}x")
    print(f"{'rib BatchLoader':<44}{rib_ips:>10.1f}{rib_cpu:>14.2f}")
    print(f"{'torchvision ImageFolder + DataLoader':<44}{peer_ips:>10.1f}{peer_cpu:>14.2f}")
    print(f"{'ratio rib / torchvision':<44}{rib_ips / peer_ips:>9.2f}x{peer_cpu / rib_cpu:>13.2f}x")
    print(f"({len(ds)} JPEGs, {a.threads} threads/workers, batch {a.batch}, best of {a.epochs})")
    print()
    print(f"output difference vs torchvision on the first {k} images:")
    print(f"{'rib resize backend':<28}{'max |diff| (normalised)':>24}{'max 8-bit levels':>18}{'mean levels':>13}")
    names = {"pil": "pil (default)", "aten": "aten antialias bicubic", "opencv": "opencv INTER_CUBIC"}
    for backend, (mx, lv, mean) in diffs.items():
        print(f"{names[backend]:<28}{mx:>24.6f}{lv:>18.2f}{mean:>13.4f}")


if __name__ == "__main__":
    main()
