"""``ganforge eval`` and ``ganforge classifier``: argument checks and printing; the work is in evaluate/features."""

from __future__ import annotations

import sys

from ganforge.errors import ConfigError
from ganforge.io import to_json

# Printed in this order; anything else in the result follows.
_ROWS = [
    ("fid", "FID", "lower is better; 0 = same feature statistics as the real images"),
    ("kid", "KID", "unbiased MMD^2 +- std over subsets; 0 on average for real images"),
    ("is", "IS", "Inception Score with the reference classifier; at most the number of classes"),
    ("precision", "precision", "share of samples inside the real images' k=3 manifold"),
    ("recall", "recall", "share of real images inside the samples' k=3 manifold"),
    ("class_acc", "class accuracy", "samples the classifier puts in their intended class"),
    ("modes_covered", "modes covered", "mixture modes with enough high-quality samples"),
    ("high_quality", "high quality", "share of samples within 3 std of a mode centre"),
    ("kl_modes", "KL(modes || uniform)", "0 when high-quality samples spread evenly over the modes"),
]


def _say(args):
    """Progress lines go to stderr with --json, so stdout holds only the JSON object."""
    out = sys.stderr if args.json else sys.stdout
    return lambda *parts: print(*parts, file=out, flush=True)


def format_result(r: dict) -> str:
    lines = []
    f = r.get("features", {})
    lines.append(f"{r.get('n')} samples vs {r.get('reference_n')} real {r.get('dataset')} images; "
                 f"features: {f.get('network')}" + (f" sha256 {f['sha256'][:12]}" if f.get("sha256") else "")
                 + (f" (test accuracy {f['test_acc']:.4f})" if f.get("test_acc") is not None else ""))
    for key, name, what in _ROWS:
        if key not in r:
            continue
        v = r[key]
        if key == "kid":
            text = f"{v:.6f} +- {r['kid_std']:.6f}"
        elif key == "is":
            text = f"{v:.4f} +- {r['is_std']:.4f}"
        elif key == "modes_covered":
            text = f"{v} / {r.get('modes')}"
        else:
            text = f"{v:.4f}"
        lines.append(f"  {name:<21} {text:<28} {what}")
    return "\n".join(lines)


def eval_command(args) -> int:
    from ganforge.metrics.evaluate import evaluate_run, load_samples_file, score_samples

    say = _say(args)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    if args.samples:
        if args.run_dir:
            raise ConfigError("give either RUN_DIR or --samples FILE.npz, not both")
        if not args.dataset:
            raise ConfigError("--samples needs --dataset NAME (the data set the samples imitate)")
        x, y = load_samples_file(args.samples)
        result = score_samples(x, args.dataset, y, metrics, features=args.features,
                               inception_weights=args.inception_weights,
                               allow_unknown_inception=args.allow_unknown_inception, data_dir=args.data_dir,
                               device=args.device, seed=args.seed, log=say)
    elif args.run_dir:
        if args.dataset:
            raise ConfigError("--dataset is taken from the run's config; drop it, or score a file with --samples")
        result = evaluate_run(args.run_dir, args.num, metrics, seed=args.seed, device=args.device,
                              features=args.features, inception_weights=args.inception_weights,
                              allow_unknown_inception=args.allow_unknown_inception, printer=say)
    else:
        raise ConfigError("give a run directory (ganforge eval RUN_DIR) or a file (ganforge eval --samples FILE.npz --dataset NAME)")
    say(format_result(result))
    if args.json:
        print(to_json(result), flush=True)  # strict JSON: an undefined metric is null, never NaN
    return 0


def classifier_command(args) -> int:
    from ganforge.metrics.features import classifier_for

    if args.epochs is not None and args.epochs < 1:
        raise ConfigError(f"--epochs must be at least 1, got {args.epochs}")
    if args.action == "train":
        net = classifier_for(args.dataset, args.data_dir, args.image_size, args.channels,
                             retrain=args.force, epochs=args.epochs)
    else:
        net = classifier_for(args.dataset, args.data_dir, args.image_size, args.channels, train_if_missing=False)
    print(f"{net.name}: input {'x'.join(map(str, net.in_shape))}, {net.dim} features, "
          f"test accuracy {net.test_acc:.4f}, sha256 {net.sha256} ({net.source}: {net.path})")
    return 0
