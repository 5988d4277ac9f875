"""The PyTorch side of tests/safetensors_test.ts: a Conv2d + BatchNorm2d state dict exported to us, and ours loaded
back strictly (same keys and shapes as PyTorch's) and compared value for value.

Usage: python3 torch_interop.py export|import FOLDER
  export: writes FOLDER/torch.safetensors and its values as FOLDER/torch.json
  import: reads FOLDER/deno.safetensors, compares it with FOLDER/deno.json, prints one JSON verdict line
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402  (the path above makes it importable)


def small_model():
    return torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.BatchNorm2d(3))


def export(folder):
    torch.manual_seed(0)
    model = small_model().train()
    model(torch.randn(4, 2, 6, 6))  # moves the BatchNorm statistics off their init
    write_safetensors(f"{folder}/torch.safetensors", model.state_dict())
    with open(f"{folder}/torch.json", "w") as f:
        json.dump({k: t.flatten().tolist() for k, t in model.state_dict().items()}, f)


def verify(folder):
    header, state, header_length = read_safetensors(f"{folder}/deno.safetensors")
    with open(f"{folder}/deno.json") as f:
        expected = json.load(f)
    model = small_model()
    model.load_state_dict(state)  # strict
    problems = [] if header_length % 8 == 0 else [f"header length {header_length} is not a multiple of 8"]
    if header["1.num_batches_tracked"]["dtype"] != "I64":
        problems.append("num_batches_tracked is not I64")
    for k, t in model.state_dict().items():
        if not torch.equal(t, torch.tensor(expected[k], dtype=t.dtype).reshape(t.shape)):
            problems.append(f"{k} differs")
    print(json.dumps({"ok": not problems, "problems": problems, "metadata": header.get("__metadata__")}))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("export", "import"):
        sys.exit("Usage: python3 torch_interop.py export|import FOLDER")
    (export if sys.argv[1] == "export" else verify)(sys.argv[2])
