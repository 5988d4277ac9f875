"""Writes the PyTorch checkpoints that tests/pth_test.ts reads, with torch.save itself.

usage: make_checkpoints.py small DIR     tensors of every storage dtype, views, shared storage,
                                          in both formats, plain / module. / {"state_dict": ...}
       make_checkpoints.py resnet50 DIR  torchvision's ResNet-50 (10 classes), its eval logits
       make_checkpoints.py hostile DIR MARKER  pickles whose payload would create MARKER
"""
import collections
import io
import json
import os
import pickle
import sys
import zipfile

import torch


def small_state():
    torch.manual_seed(0)
    base = torch.randn(4, 6)
    state = collections.OrderedDict()
    state["conv.weight"] = torch.randn(3, 2, 3, 3)
    state["transposed"] = base.t()  # non-contiguous view (stride (1, 6))
    state["sliced"] = base[1:3, ::2]  # offset and stride 2 into the same storage as "transposed"
    state["half"] = torch.randn(5).half()
    state["bfloat"] = torch.randn(5).bfloat16()
    state["double"] = torch.randn(2, 2, dtype=torch.float64)
    state["bn.num_batches_tracked"] = torch.tensor(12345, dtype=torch.int64)
    state["ints"] = torch.tensor([-3, 0, 7], dtype=torch.int32)
    state["mask"] = torch.tensor([True, False, True])
    state["empty"] = torch.zeros(0, 3)
    return state


def expected_values(state):
    return {k: {"shape": list(v.shape), "values": v.double().flatten().tolist()} for k, v in state.items()}


def save_variants(state, directory, stem):
    prefixed = collections.OrderedDict((f"module.{k}", v) for k, v in state.items())
    variants = {
        "plain": state,
        "module": prefixed,
        "wrapped": {"epoch": 7, "arch": "tiny", "state_dict": prefixed, "optimizer": {"lr": 0.1}},
    }
    for name, obj in variants.items():
        torch.save(obj, os.path.join(directory, f"{stem}-{name}-zip.pth"))
        torch.save(obj, os.path.join(directory, f"{stem}-{name}-legacy.pth"), _use_new_zipfile_serialization=False)


def small(directory):
    state = small_state()
    save_variants(state, directory, "small")
    with open(os.path.join(directory, "small.json"), "w") as f:
        json.dump(expected_values(state), f)


def resnet50(directory):
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet50(num_classes=10)
    # Non-trivial running statistics, so that eval mode tests them too.
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        logits = model(x)
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}},
               os.path.join(directory, "resnet50-zip.pth"))
    torch.save(model.state_dict(), os.path.join(directory, "resnet50-legacy.pth"),
               _use_new_zipfile_serialization=False)
    with open(os.path.join(directory, "resnet50.json"), "w") as f:
        json.dump({"input": x.flatten().tolist(), "logits": logits.flatten().tolist()}, f)


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def zipped(path, payload):
    """A zip laid out as torch.save lays it out, with `payload` as its data.pkl."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/version", "3\n")


def hostile(directory, marker):
    zipped(os.path.join(directory, "hostile-zip.pth"), pickle.dumps({"weight": Payload(marker)}, protocol=2))
    # The same call reached by STACK_GLOBAL (protocol 4), and a call of builtins.eval.
    zipped(os.path.join(directory, "hostile-protocol4.pth"), pickle.dumps({"weight": Payload(marker)}, protocol=4))
    zipped(os.path.join(directory, "hostile-eval.pth"), b"\x80\x02cbuiltins\neval\nX\x04\x00\x00\x00'1+1'\x85R.")
    # A bare legacy stream: the real magic number, protocol and system info, then the payload.
    legacy = io.BytesIO()
    pickle.dump(0x1950A86A20F9469CFC6C, legacy, protocol=2)
    pickle.dump(1001, legacy, protocol=2)
    pickle.dump({"protocol_version": 1001, "little_endian": True}, legacy, protocol=2)
    pickle.dump({"weight": Payload(marker)}, legacy, protocol=2)
    with open(os.path.join(directory, "hostile-legacy.pth"), "wb") as f:
        f.write(legacy.getvalue())


if __name__ == "__main__":
    kind, directory = sys.argv[1], sys.argv[2]
    if kind == "small":
        small(directory)
    elif kind == "resnet50":
        resnet50(directory)
    elif kind == "hostile":
        hostile(directory, sys.argv[3])
    else:
        sys.exit(f"Unknown kind {kind}: use small, resnet50 or hostile")
