"""Writes a PyTorch reference for tests/parity_test.ts: weights (safetensors, written by hand
since the safetensors package is not installable here), an input, and the outputs, loss,
gradients and BatchNorm statistics after one train-mode forward/backward and one eval forward.

Usage: python3 torch_parity.py MODEL float32|float64 OUT_DIR SHARED_BENCH_DIR
"""
import json, os, struct, sys

import torch

model_name, dtype_name, out_dir, bench_dir = sys.argv[1:5]
double = dtype_name == "float64"
if double:
    torch.set_default_dtype(torch.float64)
sys.path.insert(0, bench_dir)
torch.manual_seed(0)
torch.set_num_threads(2)
if model_name == "epsanet50":
    import torch_epsanet
    model = torch_epsanet.epsanet50(10)
else:
    import torchvision
    model = torchvision.models.resnet50(num_classes=10)


def write_safetensors(path, tensors):
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        dtype = "I64" if t.dtype == torch.int64 else ("F64" if double else "F32")
        data = t.numpy().astype({"I64": "<i8", "F64": "<f8", "F32": "<f4"}[dtype]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(chunks))


# BatchNorm statistics away from their init, so that eval mode is meaningful.
with torch.no_grad():
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.1, 0.1)
write_safetensors(os.path.join(out_dir, "weights.safetensors"), model.state_dict())
x = torch.randn(4, 3, 64, 64)
targets = torch.tensor([1, 3, 5, 7])
model.train()
logits = model(x)
loss = torch.nn.functional.cross_entropy(logits, targets, label_smoothing=0.1)
loss.backward()
params = dict(model.named_parameters())
grad_keys = ["conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer4.2.conv3.weight", "fc.weight", "fc.bias"]
grad_keys += ["layer1.0.conv2.conv_4.weight", "layer1.0.conv2.se.fc1.bias", "layer3.1.conv2.conv_2.weight"] if model_name == "epsanet50" else ["layer1.0.conv2.weight"]
model.eval()
with torch.no_grad():
    eval_logits = model(x)
state = model.state_dict()
out = {
    "input": x.flatten().tolist(),
    "targets": targets.tolist(),
    "train_logits": logits.detach().flatten().tolist(),
    "loss": loss.item(),
    "grads": {k: params[k].grad.flatten().tolist() for k in grad_keys},
    "running": {k: state[k].flatten().tolist() for k in ["bn1.running_mean", "bn1.running_var", "layer2.0.bn2.running_var", "layer4.2.bn3.running_mean"]},
    "eval_logits": eval_logits.flatten().tolist(),
}
with open(os.path.join(out_dir, "reference.json"), "w") as f:
    json.dump(out, f)
