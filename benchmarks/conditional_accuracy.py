"""Does a conditional generator make the class it is asked for? Judged by an independent classifier.

    python benchmarks/conditional_accuracy.py RUN_DIR [--num 1000] [--classifier PATH]

Trains (once, then caches) a small CNN on the Fashion-MNIST train split, reports its accuracy on
the real test split, then draws ``--num`` samples from the run's generator, the same number of
each class, and reports the share the classifier assigns to the requested class (overall and per
class). The classifier is deliberately not part of ganforge: it knows nothing about the GAN.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.data import load_dataset, normalize
from ganforge.metrics import class_accuracy
from ganforge.sampler import load_generator


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),      # (B, 1, 28, 28) -> (B, 32, 14, 14)
        nn.Conv2d(32, 64, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),     # -> (B, 64, 7, 7)
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
    )


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])


def train_classifier(path: Path, epochs: int = 3, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    ds = load_dataset("fashion-mnist", split="train")
    x, y = normalize(ds.x), ds.y
    model = small_cnn()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            idx = perm[i:i + 128]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"classifier epoch {epoch + 1}/{epochs}: {time.perf_counter() - t0:.0f} s", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return model


def load_classifier(path: Path) -> nn.Module:
    if path.is_file():
        model = small_cnn()
        model.load_state_dict(torch.load(path, weights_only=True))
        return model
    return train_classifier(path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", nargs="?", help="a conditional run (omit to only train and test the classifier)")
    p.add_argument("--num", type=int, default=1000, help="samples to draw (a multiple of the class count)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--classifier", type=Path, default=Path("benchmarks/out/fashion_cnn.pt"))
    args = p.parse_args()

    clf = load_classifier(args.classifier)
    test = load_dataset("fashion-mnist", split="test")
    real_acc = class_accuracy(predict(clf, normalize(test.x)), test.y)
    print(f"classifier accuracy on the real Fashion-MNIST test split: {real_acc:.4f}")
    if args.run_dir is None:
        return
    G = load_generator(args.run_dir)
    k = G.num_classes
    labels = np.repeat(np.arange(k), args.num // k)
    x = G.sample(len(labels), labels=labels.tolist(), seed=args.seed)
    logits = predict(clf, x)
    acc = class_accuracy(logits, labels)
    per_class = (logits.argmax(1).numpy() == labels).reshape(k, -1).mean(1)
    print(f"generated samples classified as the requested class: {acc:.4f} ({len(labels)} samples)")
    names = G.class_names or [str(i) for i in range(k)]
    print("per class: " + ", ".join(f"{n} {a:.2f}" for n, a in zip(names, per_class)))


if __name__ == "__main__":
    main()
