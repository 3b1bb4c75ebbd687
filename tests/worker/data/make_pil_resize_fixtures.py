"""Reference output for pil_parity_test: for each line "name resize size interp" of
DIR/cases.txt, opens DIR/name.png with PIL and writes DIR/name.rgb, the HWC uint8 bytes
of torchvision's Resize(resize, interp) + CenterCrop(size), the published pipeline."""
import sys

import numpy as np
from PIL import Image
from torchvision import transforms


def main(d):
    modes = {"bicubic": transforms.InterpolationMode.BICUBIC,
             "bilinear": transforms.InterpolationMode.BILINEAR}
    for line in open(f"{d}/cases.txt"):
        name, resize, size, interp = line.split()
        tf = transforms.Compose([transforms.Resize(int(resize), interpolation=modes[interp]),
                                 transforms.CenterCrop(int(size))])
        out = np.asarray(tf(Image.open(f"{d}/{name}.png").convert("RGB")), dtype=np.uint8)
        out.tofile(f"{d}/{name}.rgb")


if __name__ == "__main__":
    main(sys.argv[1])
