#!/usr/bin/env python3
"""Prints bench/engine's table from DIR/<case>.{cpp,py}.r<round>.json: the best round of
each side for throughput, and the first round's losses for the comparison."""
import glob
import json
import os
import sys


def best(directory, case, side):
    runs = [json.load(open(p))
            for p in sorted(glob.glob("%s/%s.%s.r*.json" % (directory, case, side)))]
    out = dict(runs[0])
    for key in ("train_images_per_s", "eval_images_per_s", "train_images_per_cpu_s",
                "eval_images_per_cpu_s"):
        out[key] = max(r[key] for r in runs)
    out["rounds"] = len(runs)
    return out


def same_layout(cpp_losses, replay):
    """The peer's untimed replay with the engine's weight layout, when it differs."""
    if not replay:
        return ""
    same = sum(1 for x, y in zip(cpp_losses, replay) if x == y)
    if same == len(cpp_losses) == len(replay):
        return "; channels-last replay identical"
    return "; channels-last replay %d/%d equal" % (same, len(cpp_losses))


def main():
    directory, cases = sys.argv[1], sys.argv[2].split(",")
    rows = []
    peak = threads = None
    for c in cases:
        cpp, py = best(directory, c, "cpp"), best(directory, c, "py")
        peak = max(peak or 0.0, cpp["matmul_peak_gflops"])
        threads = cpp["threads"]
        f = cpp["forward_flops"]
        a, b = cpp["losses"], py["losses"]
        same = sum(1 for x, y in zip(a, b) if x == y)
        diff = max(abs(x - y) for x, y in zip(a, b))
        rows.append([
            c, cpp.get("thread_policy", "-"), "%d/%d" % (cpp["train_batch"], cpp["eval_batch"]),
            "%.1f" % cpp["train_images_per_s"], "%.1f" % py["train_images_per_s"],
            "%.2fx" % (cpp["train_images_per_s"] / py["train_images_per_s"]),
            "%.1f" % cpp["eval_images_per_s"], "%.1f" % py["eval_images_per_s"],
            "%.2fx" % (cpp["eval_images_per_s"] / py["eval_images_per_s"]),
            "%.2fx/%.2fx" % (cpp["train_images_per_cpu_s"] / py["train_images_per_cpu_s"],
                             cpp["eval_images_per_cpu_s"] / py["eval_images_per_cpu_s"]),
            "%.1f" % (3 * f * cpp["train_images_per_s"] / 1e9),
            "%.1f" % (f * cpp["eval_images_per_s"] / 1e9),
            "%.2f" % (f / 1e9),
            ("identical" if same == len(a) == len(b) else
             "%d/%d equal, max|d|=%.1e" % (same, len(a), diff))
            + same_layout(a, py.get("same_layout_losses")),
            ("identical" if py["weights_identical"] else
             "max|d|=%.1e" % py["weight_max_abs_diff"]),
        ])
    head = ["case", "C++ threads", "batch tr/ev", "C++ train", "Py train", "ratio", "C++ eval", "Py eval",
            "ratio", "CPU-time ratio tr/ev", "GFLOP/s tr", "GFLOP/s ev", "GFLOP/img", "losses C++ vs Py",
            "trained weights"]
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    print("rib engine vs plain PyTorch loop: images/s, %d threads, fp32 matmul peak %.1f GFLOP/s"
          % (threads, peak))
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for r in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)))
    print("(ratio = C++/Python images per wall-clock second; CPU-time ratio = per CPU-second"
          " of the process, which a loaded machine distorts less)")
    print("(C++ threads = the engine's thread policy, worker/engine/threads.h: openmp = OpenMP"
          " pool gets the cores, BLAS 1; blas = the reverse. The Python loop keeps both pools at"
          " the default size, as a plain script does)")
    print("(losses: the timed Python loop keeps torchvision's contiguous NCHW weights; the engine"
          " trains ResNets with channels-last weights, so the peer also replays the steps untimed"
          " with channels-last weights, which must give the engine's losses bit for bit)")
    print("(training FLOPs = 3 x forward; GFLOP/img = forward; best of the timed repetitions;"
          " load average now %.1f on %d CPUs)" % (os.getloadavg()[0], os.cpu_count()))


if __name__ == "__main__":
    main()
