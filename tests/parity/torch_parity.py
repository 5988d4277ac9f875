"""Writes the PyTorch side of tests/parity_test.ts into OUT_DIR, from the models of torch_epsanet.py beside it:

- weights.safetensors: the state dict the test loads into our model (BatchNorm moved away from its init so that
  eval mode and the affine parameters matter);
- gradients.safetensors: every parameter's gradient after one train-mode forward/backward;
- reference.json: the input, targets, train-mode logits, loss, BatchNorm running statistics after the step, and
  eval-mode logits.

Usage: python3 torch_parity.py MODEL float32|float64 OUT_DIR
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import write_safetensors  # noqa: E402  (the path above makes these importable)
from torch_epsanet import MODELS, create_model  # noqa: E402

RUNNING_STATISTICS = ["bn1.running_mean", "bn1.running_var", "layer2.0.bn2.running_var", "layer4.2.bn3.running_mean"]


def flat(tensor):
    return tensor.detach().flatten().tolist()


def main(model_name, dtype_name, out_dir):
    if dtype_name == "float64":
        torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = create_model(model_name, num_classes=10)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.1, 0.1)
    write_safetensors(os.path.join(out_dir, "weights.safetensors"), model.state_dict())

    x = torch.randn(4, 3, 64, 64)  # (N, C, H, W)
    targets = torch.tensor([1, 3, 5, 7])
    model.train()
    logits = model(x)  # (N, 10)
    loss = torch.nn.functional.cross_entropy(logits, targets, label_smoothing=0.1)
    loss.backward()
    write_safetensors(os.path.join(out_dir, "gradients.safetensors"),
                      {name: p.grad for name, p in model.named_parameters()})
    model.eval()
    with torch.no_grad():
        eval_logits = model(x)
    state = model.state_dict()
    reference = {
        "input": flat(x),
        "targets": targets.tolist(),
        "train_logits": flat(logits),
        "loss": loss.item(),
        "running": {k: flat(state[k]) for k in RUNNING_STATISTICS},
        "eval_logits": flat(eval_logits),
    }
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(reference, f)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in MODELS or sys.argv[2] not in ("float32", "float64"):
        sys.exit(f"Usage: python3 torch_parity.py {'|'.join(MODELS)} float32|float64 OUT_DIR")
    main(*sys.argv[1:])
