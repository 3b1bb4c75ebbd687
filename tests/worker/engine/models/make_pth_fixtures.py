#!/usr/bin/env python3
"""Writes the .pth fixtures of pth_archive_test.cc into OUT (argv[1]), with Debian's
python3-torch and python3-torchvision:

  resnet18.pth / .safetensors   torchvision resnet18(weights=None), seeded, with random
                                BatchNorm statistics: torch.save(state_dict()) and the
                                same tensors as safetensors
  dtypes.pth / .safetensors     views (transpose, slice with offset, stride 0, shared
                                storage, empty) in float32/16, bfloat16, int64/32, uint8,
                                bool: torch.save and the same values, contiguous
  hostile/*.pth                 archives rib must refuse (see the test)
  python_runs_payload           made by pickle.loads of os_system.pth's data.pkl, to
                                show that payload is live
"""
import collections
import io
import os
import pickle
import struct
import sys
import zipfile

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "testing"))
from reference_models import save_safetensors  # noqa: E402

OUT = sys.argv[1]
def resnet18():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    for name, b in model.named_buffers():
        if name.endswith("running_mean"):
            b.copy_(torch.randn_like(b))
        elif name.endswith("running_var"):
            b.copy_(torch.rand_like(b) + 0.5)
        elif name.endswith("num_batches_tracked"):
            b.fill_(7)
    state = model.state_dict()
    assert hasattr(state, "_metadata")
    torch.save(state, os.path.join(OUT, "resnet18.pth"))
    save_safetensors(os.path.join(OUT, "resnet18.safetensors"), state)


def dtypes():
    torch.manual_seed(1)
    base = torch.randn(5, 6)
    d = collections.OrderedDict()
    d["base"] = base
    d["transposed"] = base.t()                # strides (1, 6), same storage
    d["slice"] = base[1:4, 2:5]               # storage offset 8
    d["expanded"] = torch.randn(3)[:, None].expand(3, 4)  # stride 0
    d["empty"] = torch.zeros(0, 3)
    d["half"] = torch.randn(4, 2).half()[:, 1]
    d["bfloat16"] = torch.randn(7).bfloat16()
    d["int64"] = torch.arange(-5, 5, dtype=torch.int64).reshape(2, 5)
    d["int32"] = torch.randint(-1000, 1000, (3, 3), dtype=torch.int32).t()
    d["uint8"] = torch.randint(0, 256, (10,), dtype=torch.uint8)
    d["bool"] = torch.rand(6) > 0.5
    torch.save(d, os.path.join(OUT, "dtypes.pth"))
    save_safetensors(os.path.join(OUT, "dtypes.safetensors"), d)


# A pickle made by hand-written objects, as torch.save lays it out.
class Storage:
    def __init__(self, key, numel, cls=torch.FloatStorage):
        self.key, self.numel, self.cls = key, numel, cls


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", obj.cls, obj.key, "cpu", obj.numel)
        return None


def archive(name, pickle_bytes, storages):
    with zipfile.ZipFile(os.path.join(OUT, "hostile", name), "w") as z:
        z.writestr("archive/data.pkl", pickle_bytes)
        z.writestr("archive/byteorder", "little")
        for key, data in storages.items():
            z.writestr("archive/data/" + key, data)
        z.writestr("archive/version", "3\n")


def state_dict_pickle(entries):
    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(collections.OrderedDict(entries))
    return buf.getvalue()


def hostile():
    os.makedirs(os.path.join(OUT, "hostile"), exist_ok=True)
    four = struct.pack("<4f", 1, 2, 3, 4)

    def system_pickle(marker):
        cmd = ("touch " + marker).encode()
        return (b"\x80\x02cos\nsystem\nX" + struct.pack("<I", len(cmd)) + cmd + b"\x85R.")

    archive("os_system.pth", system_pickle(os.path.join(OUT, "rib_ran_payload")), {})
    pickle.loads(system_pickle(os.path.join(OUT, "python_runs_payload")))
    # A whole module saved instead of its state_dict: a lab's most common mistake.
    torch.save(torch.nn.Linear(2, 2), os.path.join(OUT, "hostile", "whole_module.pth"))
    with open(os.path.join(OUT, "dtypes.pth"), "rb") as f:
        data = f.read()
    with open(os.path.join(OUT, "hostile", "truncated.pth"), "wb") as f:
        f.write(data[: len(data) // 2])
    archive("missing_storage.pth",
            state_dict_pickle([("w", Tensor(Storage("7", 4), 0, (4,), (1,)))]), {"0": four})
    archive("past_storage.pth",
            state_dict_pickle([("w", Tensor(Storage("0", 4), 0, (2, 3), (3, 1)))]),
            {"0": four})
    archive("short_storage.pth",
            state_dict_pickle([("w", Tensor(Storage("0", 100), 0, (4,), (1,)))]),
            {"0": four})


os.makedirs(OUT, exist_ok=True)
resnet18()
dtypes()
hostile()
print("ok")
