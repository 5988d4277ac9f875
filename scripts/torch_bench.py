#!/usr/bin/env python3
"""PyTorch's side of `deno task perf`: the speed of the same training step and inference that scripts/bench.ts times
(same model from tests/parity/torch_epsanet.py, random input, labels i % classes, cross entropy, Adam lr 1e-3,
warm-up steps first), printed as one JSON line with the field names bench.ts --json uses.

  python3 scripts/torch_bench.py --model epsanet50 --image-size 32 --batch 32              # CPU
  python3 scripts/torch_bench.py --device cuda --model resnet50 --batch 64 --amp bf16 --channels-last
"""
import argparse
import json
import os
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "parity"))
from torch_epsanet import MODELS, STEMS, create_model  # noqa: E402  (the path above makes it importable)

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--model", default="epsanet50", choices=list(MODELS))
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--stem", default="imagenet", choices=STEMS)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="timed steps (default 10)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: PyTorch's choice)")
    parser.add_argument("--amp", default="", choices=["", *AMP_DTYPES], help="autocast dtype (default: float32)")
    parser.add_argument("--channels-last", action="store_true", help="NHWC memory format")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (PyTorch 2)")
    args = parser.parse_args()
    if min(args.classes, args.image_size, args.batch, args.steps) < 1 or args.warmup < 0:
        parser.error("--classes, --image-size, --batch and --steps must be positive, --warmup non-negative")
    return args


def seconds_per_call(fn, steps, warmup, synchronize):
    for _ in range(warmup):
        fn()
    synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    synchronize()
    return (time.perf_counter() - start) / steps


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    on_gpu = device.type == "cuda"
    if on_gpu:
        torch.backends.cudnn.benchmark = True  # as our CUDA device: one algorithm search per shape
    synchronize = torch.cuda.synchronize if on_gpu else (lambda: None)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format

    torch.manual_seed(0)
    model = create_model(args.model, args.classes, args.stem).to(device, memory_format=memory_format)
    run = torch.compile(model) if args.compile else model
    images = torch.randn(args.batch, 3, args.image_size, args.image_size, device=device)
    images = images.to(memory_format=memory_format)  # (N, 3, H, W)
    labels = torch.arange(args.batch, device=device) % args.classes
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    amp_dtype = AMP_DTYPES.get(args.amp)
    scaler = torch.cuda.amp.GradScaler() if args.amp == "fp16" else None

    def autocast():
        return torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = torch.nn.functional.cross_entropy(run(images), labels)
        if scaler:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()

    def infer_step():
        with torch.no_grad(), autocast():
            run(images)

    model.train()
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    train_s = seconds_per_call(train_step, args.steps, args.warmup, synchronize)
    peak_train_bytes = torch.cuda.max_memory_allocated() if on_gpu else None
    model.eval()
    infer_s = seconds_per_call(infer_step, args.steps, args.warmup, synchronize)
    print(json.dumps({
        "impl": "pytorch",
        "torch": torch.__version__,
        "python": sys.executable,
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if on_gpu else None,
        "threads": torch.get_num_threads(),
        "model": args.model,
        "stem": args.stem,
        "classes": args.classes,
        "image_size": args.image_size,
        "batch": args.batch,
        "amp": args.amp or "fp32",
        "channels_last": args.channels_last,
        "compile": args.compile,
        "train_step_ms": round(train_s * 1e3, 3),
        "train_img_s": round(args.batch / train_s, 2),
        "infer_step_ms": round(infer_s * 1e3, 3),
        "infer_img_s": round(args.batch / infer_s, 2),
        "peak_train_bytes": peak_train_bytes,
    }))


if __name__ == "__main__":
    main()
