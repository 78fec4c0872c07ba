"""PyTorch peer for bench/train-bench.ts: trains the same `paper` CNN on synthetic MNIST-shaped data
and prints one JSON line {label, imgPerSec, msPerBatch}.

Install: apt-get install python3-torch libopenblas0-pthread   (run with Debian's /usr/bin/python3)
Run with OPENBLAS_NUM_THREADS=1 so BLAS does not add its own threads on top of torch's.
"""
import argparse
import json
import time

import torch
from torch import nn


def paper(num_classes: int) -> nn.Module:
    # Same layers as src/model/archs.ts `paper` (995,060 parameters for 10 classes).
    return nn.Sequential(
        nn.Conv2d(1, 75, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.2),
        nn.Conv2d(75, 100, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.2),
        nn.Flatten(),
        nn.Linear(100 * 4 * 4, 500), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(500, num_classes),  # softmax is inside CrossEntropyLoss
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--arch", default="paper")
    a = p.parse_args()
    if a.arch != "paper":
        raise SystemExit(f"torch peer only implements 'paper', not {a.arch!r}")
    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    model = paper(10)
    assert sum(t.numel() for t in model.parameters()) == 995_060
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(a.batch, 1, 28, 28)
    y = torch.randint(0, 10, (a.batch,))
    model.train()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    start = time.perf_counter()
    for _ in range(a.batches):
        step()
    ms = (time.perf_counter() - start) * 1000 / a.batches
    print(json.dumps({
        "label": f"PyTorch {torch.__version__} {a.threads} threads",
        "imgPerSec": a.batch * 1000 / ms,
        "msPerBatch": ms,
    }))


if __name__ == "__main__":
    main()
