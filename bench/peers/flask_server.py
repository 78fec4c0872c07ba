"""Flask + PyTorch peer of the published serving design, for `npm run bench:serve`.

The published app: a Flask route that takes the drawing as JSON, turns it into a 1x28x28 tensor and
runs the reference CNN in PyTorch, answering the label and the probabilities. Run under gunicorn with
2 sync workers (one per core here):

    gunicorn -w 2 -k gthread --threads 1 -b 127.0.0.1:5001 --chdir bench/peers flask_server:app

(gthread with 1 thread: still one request at a time per worker, but HTTP keep-alive; the default
sync worker closes every connection, which autocannon turns into resets and bogus latencies.)

Weights are random (seeded): the compute per request is what is measured, not the accuracy.
Accepts {"pixels": [784 numbers]} or {"strokes": [[[x, y], ...], ...]} like hwr's /api/predict.
"""

import numpy as np
import torch
from flask import Flask, jsonify, request
from torch import nn

CLASSES = [str(d) for d in range(10)]


class ReferenceCNN(nn.Module):
    """The published CNN: conv 75@5x5, pool, conv 100@5x5, pool, dense 500, dense 10 (995,060 params)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 75, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(0.2),
            nn.Conv2d(75, 100, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(0.2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(100 * 4 * 4, 500),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(500, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


# One intra-op thread per worker: 2 workers already use both cores, and a batch of one image is too
# small for torch's threads to pay off (2 x 2 threads on 2 cores only adds contention).
torch.set_num_threads(1)
torch.manual_seed(0)
model = ReferenceCNN(len(CLASSES)).eval()


def render_strokes(strokes) -> np.ndarray:
    """Strokes -> 28x28 ink-high image: fit into the 20x20 box centred in 28x28, pen ~2 px wide."""
    pts = [np.asarray(s, dtype=np.float32).reshape(-1, 2) for s in strokes if len(s)]
    if not pts:
        raise ValueError("nothing drawn")
    allp = np.concatenate(pts)
    lo, hi = allp.min(0), allp.max(0)
    scale = 20.0 / max(float((hi - lo).max()), 1e-6)
    offset = 14.0 - (hi - lo) * scale / 2
    ys, xs = np.mgrid[0:28, 0:28].astype(np.float32) + 0.5
    grid = np.stack([xs.ravel(), ys.ravel()], 1)
    dist = np.full(grid.shape[0], np.inf, dtype=np.float32)
    for p in pts:
        p = (p - lo) * scale + offset
        a, b = (p[:-1], p[1:]) if len(p) > 1 else (p, p)
        ab = b - a
        denom = np.maximum((ab * ab).sum(1), 1e-9)
        t = np.clip(((grid[:, None, :] - a[None]) * ab[None]).sum(2) / denom[None], 0, 1)
        d = np.linalg.norm(grid[:, None, :] - (a[None] + t[..., None] * ab[None]), axis=2).min(1)
        dist = np.minimum(dist, d)
    return np.clip(1.5 - dist, 0, 1).reshape(28, 28) * 255


app = Flask(__name__)


@app.route("/api/predict", methods=["POST"])
def predict():
    data = request.get_json(force=True)
    if "pixels" in data:
        img = np.asarray(data["pixels"], dtype=np.float32).reshape(28, 28)
    else:
        img = render_strokes(data["strokes"])
    x = torch.from_numpy((img / 255.0).astype(np.float32)).reshape(1, 1, 28, 28)
    with torch.no_grad():
        probs = torch.softmax(model(x), dim=1)[0].numpy()
    order = np.argsort(-probs)
    return jsonify(
        label=CLASSES[order[0]],
        confidence=float(probs[order[0]]),
        top=[{"label": CLASSES[i], "p": float(probs[i])} for i in order[:5]],
    )


@app.route("/healthz")
def healthz():
    return jsonify(status="ok")
