"""PyTorch peer for bench/train-bench.ts: trains the same net as hwr (the `paper` CNN on synthetic
MNIST-shaped data, or a stroke net on synthetic stroke features: 64 points x 7 channels + 7 side
features) and prints one JSON line {label, imgPerSec, msPerBatch}.

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


def conv_bn_relu(cin: int, cout: int, k: int) -> list[nn.Module]:
    # As src/model/archs.ts conv1dBnRelu: 'same' padding, no conv bias (BatchNorm's beta replaces it).
    return [nn.Conv1d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm1d(cout), nn.ReLU()]


class StrokeNet(nn.Module):
    """src/model/archs.ts strokes-conv / strokes-conv-wide / strokes-gru: a trunk over the trajectory,
    mean and max over time joined with the side features, dropout .3, dense + ReLU, dropout .3, classes."""

    def __init__(self, arch: str, num_classes: int, channels: int = 7, side: int = 7) -> None:
        super().__init__()
        self.gru = None
        if arch == "strokes-gru":
            self.trunk = nn.Sequential(*conv_bn_relu(channels, 64, 5), nn.MaxPool1d(2))
            self.gru = nn.GRU(64, 64, batch_first=True, bidirectional=True)
            width, units = 128, 128
        else:
            widths, units = ([64, 128, 128, 192], 128) if arch == "strokes-conv" else ([96, 192, 192, 256], 256)
            layers: list[nn.Module] = []
            cin = channels
            for i, w in enumerate(widths):
                layers += conv_bn_relu(cin, w, 5 if i < 2 else 3)
                if i < len(widths) - 1:
                    layers.append(nn.MaxPool1d(2))
                cin = w
            self.trunk = nn.Sequential(*layers)
            width = widths[-1]
        self.head = nn.Sequential(
            nn.Dropout(0.3), nn.Linear(2 * width + side, units), nn.ReLU(), nn.Dropout(0.3),
            nn.Linear(units, num_classes),
        )

    def forward(self, seq: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        x = self.trunk(seq.transpose(1, 2))  # [n, channels, points] for Conv1d
        if self.gru is not None:
            x, _ = self.gru(x.transpose(1, 2))
            x = x.transpose(1, 2)
        return self.head(torch.cat([x.mean(2), x.amax(2), side], 1))


# hwr's parameter counts (tfjs countParams: BatchNorm's moving mean and variance included) for 10 classes.
STROKE_PARAMS = {"strokes-conv": 219_594, "strokes-conv-wide": 492_202, "strokes-gru": 87_114}


def stroke_params(model: nn.Module) -> int:
    """Parameters counted as tfjs counts them: with BatchNorm's running statistics, and a GRU's
    recurrent bias once (torch keeps b_ih and b_hh, tfjs-layers' GRU one bias per gate)."""
    n = sum(t.numel() for t in model.parameters())
    n += sum(b.numel() for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var")))
    n -= sum(t.numel() for name, t in model.named_parameters() if "bias_hh" in name)
    return n


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--arch", default="paper")
    a = p.parse_args()
    if a.arch != "paper" and a.arch not in STROKE_PARAMS:
        raise SystemExit(f"torch peer implements 'paper' and {', '.join(STROKE_PARAMS)}, not {a.arch!r}")
    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    if a.arch == "paper":
        model: nn.Module = paper(10)
        assert sum(t.numel() for t in model.parameters()) == 995_060
        inputs: tuple[torch.Tensor, ...] = (torch.rand(a.batch, 1, 28, 28),)
    else:
        model = StrokeNet(a.arch, 10)
        assert stroke_params(model) == STROKE_PARAMS[a.arch], stroke_params(model)
        inputs = (torch.randn(a.batch, 64, 7), torch.randn(a.batch, 7))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    y = torch.randint(0, 10, (a.batch,))
    model.train()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(*inputs), y).backward()
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
