"""Writes a tiny image folder (train/ and val/, two classes) of JPEG and PNG files in every mode
the loader converts, one corrupt file, and PIL/torchvision references next to them:
NAME.rgb (PIL's convert("RGB"), HWC bytes), resize.json (Resize + CenterCrop outputs) and
boxes.json (RandomResizedCrop.get_params on given draws). Usage: python3 image_folder.py DIR"""
import io, json, os, sys
import numpy as np
import torch
from PIL import Image
import torchvision.transforms as T
import torchvision.transforms.transforms as TT

root = sys.argv[1]
rng = np.random.default_rng(7)

def smooth(h, w):
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h)], -1)
    return np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)

def save(path, image, **kw):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    image.save(path, **kw)
    arr = np.array(Image.open(path).convert("RGB"))
    open(path + ".rgb", "wb").write(arr.tobytes())

t = os.path.join(root, "train")
save(f"{t}/cat/rgb.jpg", Image.fromarray(smooth(30, 41)), quality=90)
save(f"{t}/cat/gray.jpg", Image.fromarray(smooth(33, 20)[..., 0]), quality=90)
save(f"{t}/cat/rgb.png", Image.fromarray(smooth(23, 37)))
save(f"{t}/cat/sub/gray.png", Image.fromarray(smooth(21, 18)[..., 1]))
save(f"{t}/dog/rgba.png", Image.fromarray(np.dstack([smooth(19, 25), smooth(19, 25)[..., :1]])))
save(f"{t}/dog/palette.png", Image.fromarray(smooth(26, 22)).convert("P", palette=Image.ADAPTIVE, colors=16))
save(f"{t}/dog/gray16.png", Image.fromarray((smooth(20, 24)[..., 0].astype(np.uint16) * 3)))
open(f"{t}/dog/broken.jpg", "wb").write(b"\xff\xd8\xff\xe0" + bytes(40))
open(f"{t}/dog/notes.txt", "w").write("not an image")
v = os.path.join(root, "val")
save(f"{v}/cat/a.png", Image.fromarray(smooth(24, 30)))
save(f"{v}/dog/b.jpg", Image.fromarray(smooth(28, 20)), quality=95)

# Resize(shorter side) + CenterCrop on the lossless PNGs, whose decoded pixels match PIL exactly
resize = []
for name in ["train/cat/rgb.png", "train/dog/palette.png", "val/cat/a.png"]:
    for r, s in [(16, 14), (20, 20), (9, 7), (40, 33)]:
        out = T.Compose([T.Resize(r), T.CenterCrop(s)])(Image.open(os.path.join(root, name)).convert("RGB"))
        resize.append({"file": name, "resize": r, "size": s, "hwc": np.array(out).ravel().tolist()})
json.dump(resize, open(os.path.join(root, "resize.json"), "w"))

# torchvision's own get_params, fed our uniform draws through a stand-in for its torch module
class Fake:
    def __init__(self, draws): self.draws = list(draws)
    def tensor(self, x): return torch.tensor(x, dtype=torch.float64)
    def log(self, x): return torch.log(x)
    def exp(self, x): return torch.exp(x)
    def empty(self, *a):
        fake = self
        class U:
            def uniform_(self, lo, hi): return torch.tensor(float(lo) + fake.draws.pop(0) * (float(hi) - float(lo)), dtype=torch.float64)
        return U()
    def randint(self, lo, hi, size): return torch.tensor([lo + int(self.draws.pop(0) * (hi - lo))])

boxes = []
for h, w in [(100, 100), (50, 100), (40, 300), (300, 40), (37, 53)]:
    for k in range(6):
        draws = rng.random(40).tolist()
        if k == 0: draws = [1.0 - 1e-12, 1.0 - 1e-12] * 20  # every attempt too large: the fallback
        real = TT.torch
        TT.torch = Fake(draws)
        try:
            i, j, bh, bw = T.RandomResizedCrop.get_params(Image.new("RGB", (w, h)), [0.08, 1.0], [3 / 4, 4 / 3])
        finally:
            TT.torch = real
        boxes.append({"height": h, "width": w, "draws": draws, "box": [int(i), int(j), int(bh), int(bw)]})
json.dump(boxes, open(os.path.join(root, "boxes.json"), "w"))
