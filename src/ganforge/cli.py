"""The ``ganforge`` command line.

Every subcommand validates its input and reports a problem as one line on
stderr with a non-zero exit code; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from ganforge import __version__
from ganforge.errors import GanforgeError


# ---------------------------------------------------------------------------
# Subcommands

def cmd_train(args) -> int:
    from ganforge.api import override_items
    from ganforge.config import resolve

    dataset, domains = args.dataset, None
    if args.domains:  # --domains fashion-mnist:sneaker,ankle-boot: the data set and its two classes (CycleGAN)
        from ganforge.errors import ConfigError

        dataset_part, sep, domains = args.domains.rpartition(":")
        if not sep or not dataset_part or domains.count(",") != 1:
            raise ConfigError(f"--domains takes DATASET:A,B (e.g. fashion-mnist:sneaker,ankle-boot), got '{args.domains}'")
        if args.dataset and args.dataset != dataset_part:
            raise ConfigError(f"--domains names data set '{dataset_part}' and --dataset '{args.dataset}'; give one")
        dataset = dataset_part
    items = override_items(dataset=dataset, data_dir=args.data_dir, epochs=args.epochs, steps=args.steps,
                           minutes=args.minutes, seed=args.seed, device=args.device, checkpoint_every=args.checkpoint_every,
                           overrides=args.overrides)
    if domains:
        items = {"data.domains": domains, **items}
    if args.init_from:
        if args.resume:
            from ganforge.errors import ConfigError

            raise ConfigError(f"--init-from starts a new run from another run's weights and --resume {args.resume} "
                              "continues a run; give one of them")
        items = {"train.init_from": args.init_from, **items}
    cfg = None if args.resume else resolve(args.preset, items)  # config mistakes show before torch loads
    from ganforge.train import Trainer
    from ganforge.train.distributed import leaving_together

    # under torchrun the trainer joins the process group as it is built: a rank that then stops (its run
    # directory taken, a bad checkpoint) must leave it too, or gloo aborts the process at exit
    with leaving_together():
        trainer = Trainer.resume(args.resume, items) if args.resume else Trainer(cfg, run_dir=args.out)
        trainer.fit()
    return 0


def cmd_bench(args) -> int:
    from ganforge.bench import format_result, run_bench
    from ganforge.io import to_json

    from ganforge.train.distributed import env_rank, leaving_together

    with leaving_together():
        result = run_bench(args.preset, dataset=args.dataset, steps=args.steps, windows=args.windows,
                           device=args.device, overrides=args.overrides)
    if env_rank() == 0:  # under torchrun, rank 0 reports for the whole job
        print(format_result(result), flush=True)
        if args.json:
            print(to_json(result))
    return 0


def cmd_presets(args) -> int:
    from ganforge.config import list_presets

    rows = list_presets()
    width = max(len(name) for name, _ in rows)
    for name, description in rows:
        print(f"{name:<{width}}  {description}")
    return 0


def cmd_datasets(args) -> int:
    from ganforge.data import dataset_info

    rows = dataset_info()
    w = [max(len(str(r[k])) for r in rows) for k in ("name", "shape")]
    for r in rows:
        print(f"{r['name']:<{w[0]}}  {r['shape']:<{w[1]}}  {str(r['classes']) + ' classes':<11}  {r['status']}")
    return 0


def parse_codes(items: list[str] | None) -> dict[str, float]:
    """``--code NAME=VALUE`` arguments as ``{name: value}``; a one-line error for a malformed one."""
    from ganforge.errors import ConfigError

    codes: dict[str, float] = {}
    for item in items or []:
        name, sep, raw = item.partition("=")
        try:
            value = float(raw)
        except ValueError:
            value = None
        if not sep or not name.strip() or value is None:
            raise ConfigError(f"--code takes NAME=VALUE, e.g. --code cat=3 or --code c1=0.5; got '{item}'")
        codes[name.strip()] = value
    return codes


def cmd_sample(args) -> int:
    from ganforge.errors import ConfigError

    args.codes = parse_codes(args.code)  # before anything loads: a malformed --code fails fast
    if args.interpolate is not None:
        return _sample_interpolation(args)
    if args.num < 1:
        raise ConfigError(f"--num must be at least 1, got {args.num}")
    out = Path(args.out)
    as_npz = out.suffix.lower() == ".npz"
    if as_npz and out.is_dir():
        raise GanforgeError(f"--out {out} is a folder; name a FILE.npz, or a folder without the .npz suffix for PNGs")
    if as_npz and out.exists() and not args.force:
        raise GanforgeError(f"{out} already exists; choose another --out or pass --force to replace it")
    if not as_npz and out.exists() and not out.is_dir():
        raise GanforgeError(f"--out {out} is an existing file; sample writes FILE.npz or a folder of PNGs")
    import numpy as np

    from ganforge.sampler import load_generator
    from ganforge.viz import to_uint8_hwc

    G = load_generator(args.run_dir, device=args.device)
    G.use_stage(args.stage)
    if G.num_classes:
        labels = args.class_ if args.class_ is not None else [i % G.num_classes for i in range(args.num)]
    else:
        labels = args.class_
    x = G.sample(args.num, labels=labels, seed=args.seed, codes=args.codes)
    y = None
    if G.num_classes:
        y = np.full(args.num, labels) if isinstance(labels, int) else np.asarray(labels)
    if x.dim() == 2:
        arrays = {"arr_0": x.numpy().astype(np.float32)}
    else:
        arrays = {"arr_0": to_uint8_hwc(x)}
    if y is not None:
        arrays["arr_1"] = y.astype(np.int64)
    if as_npz:
        from ganforge.io import atomic_path

        with atomic_path(out) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
        print(f"wrote {args.num} samples {arrays['arr_0'].shape} {arrays['arr_0'].dtype} to {out}")
        return 0
    if x.dim() == 2:
        raise GanforgeError("2-D point samples can only be written as .npz; use --out FILE.npz")
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    existing = list(out.glob("sample_*.png"))
    if existing and not args.force:
        raise GanforgeError(f"{out} already holds samples; choose another --out or pass --force to replace them")
    imgs = arrays["arr_0"]
    for i, img in enumerate(imgs):
        name = f"sample_{i:05d}" + (f"_class{int(y[i])}" if y is not None else "") + ".png"
        Image.fromarray(img.squeeze(2) if img.shape[2] == 1 else img).save(out / name)
    print(f"wrote {args.num} PNG files to {out}/")
    return 0


def _sample_interpolation(args) -> int:
    from ganforge.errors import ConfigError

    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".gif"):
        raise ConfigError(f"--interpolate writes a .png strip or a .gif; --out {out} has neither suffix")
    if args.interpolate < 2 or args.steps < 1:
        raise ConfigError(f"--interpolate needs at least 2 seeds and --steps at least 1, got {args.interpolate} and {args.steps}")
    if out.exists() and not args.force:
        raise GanforgeError(f"{out} already exists; choose another --out or pass --force to replace it")
    from ganforge.interpolate import interpolate, save_interpolation
    from ganforge.sampler import load_generator

    G = load_generator(args.run_dir, device=args.device)
    G.use_stage(args.stage)
    if args.class_ is not None and G.num_classes and not 0 <= args.class_ < G.num_classes:
        raise ConfigError(f"class {args.class_} is out of range: this model has classes 0-{G.num_classes - 1}")
    seeds = list(range(args.seed, args.seed + args.interpolate))
    images = interpolate(G, seeds, steps=args.steps, label=args.class_, codes=args.codes)
    save_interpolation(images, out)
    what = f", class {args.class_ or 0}" if G.num_classes else ""
    print(f"wrote an interpolation through seeds {seeds[0]}-{seeds[-1]} ({args.steps} steps each{what}) to {out}")
    return 0


def cmd_translate(args) -> int:
    from ganforge.errors import ConfigError
    from ganforge.translate import FITS, read_inputs, translate, write_outputs

    out = Path(args.out)
    if args.fit not in FITS:
        raise ConfigError(f"--fit must be one of {', '.join(FITS)}, got '{args.fit}'")
    from ganforge.rundir import latest_checkpoint, load_checkpoint
    from ganforge.sampler import sampler_from_checkpoint

    path = Path(args.run_dir)
    state = load_checkpoint(path) if path.is_file() else latest_checkpoint(path)
    sampler = sampler_from_checkpoint(state, device=args.device)
    family = sampler.family
    if not family.translates:
        raise ConfigError(f"this run's model (family '{family.name}') draws images from latents; translate applies "
                          "image-to-image models (pix2pix); use ganforge sample RUN")
    if args.direction is not None:
        directions = getattr(family, "directions", None)
        if not directions:
            raise ConfigError(f"this model translates one way (source -> target); drop --direction {args.direction}")
        family.set_direction(args.direction)
    items = read_inputs(args.input, family.source_shape[0])
    outs = translate(family, sampler.G, [im for _, im in items], fit=args.fit, device=args.device)
    print("wrote " + write_outputs(outs, [name for name, _ in items], out, force=args.force))
    return 0


def cmd_report(args) -> int:
    from ganforge.viz import write_report

    if args.out is not None:  # the run's own report.html is refreshed freely; a file the user named is not
        out = Path(args.out)
        if out.is_dir():
            raise GanforgeError(f"--out {out} is a folder; name the .html file to write")
        if out.exists() and not args.force:
            raise GanforgeError(f"{out} already exists; choose another --out or pass --force to replace it")
    path = write_report(args.run_dir, out=args.out)
    print(f"wrote {path}")
    return 0


# -- eval and classifier: argument checks and printing; the work is in metrics/ ------------------

# Printed in this order; anything else in the result follows.
_ROWS = [
    ("fid", "FID", "lower is better; 0 = same feature statistics as the real images"),
    ("kid", "KID", "unbiased MMD^2 +- std over subsets; 0 on average for real images"),
    ("is", "IS", "Inception Score with the reference classifier; at most the number of classes"),
    ("precision", "precision", "share of samples inside the real images' k=3 manifold"),
    ("recall", "recall", "share of real images inside the samples' k=3 manifold"),
    ("class_acc", "class accuracy", "samples the classifier puts in their intended class (translations: their "
                                    "source's, or the target domain's)"),
    ("code_acc", "code accuracy", "samples whose class is their categorical code's, codes matched one-to-one to classes"),
    ("modes_covered", "modes covered", "mixture modes with enough high-quality samples"),
    ("high_quality", "high quality", "share of samples within 3 std of a mode centre"),
    ("kl_modes", "KL(modes || uniform)", "0 when high-quality samples spread evenly over the modes"),
    ("psnr", "PSNR (dB)", "translations against their targets, mean over images; higher is closer"),
    ("l1", "L1 (0-255)", "mean absolute difference of translations to their targets; lower is closer"),
    ("cycle_l1", "cycle L1 (0-255)", "mean absolute difference of the inputs to their translation translated back"),
]


def _say(args):
    """Progress lines go to stderr with --json, so stdout holds only the JSON object."""
    out = sys.stderr if args.json else sys.stdout
    return lambda *parts: print(*parts, file=out, flush=True)


def format_scores(r: dict) -> str:
    lines = []
    f = r.get("features", {})
    if not f:   # --metrics psnr: a translator's scores against its targets only
        lines.append(f"{r.get('n')} translations of {r.get('dataset')} test images, compared with their targets")
    else:
        lines.append(f"{r.get('n')} samples vs {r.get('reference_n')} real {r.get('dataset')} images; "
                     f"features: {f.get('network')}" + (f" sha256 {f['sha256'][:12]}" if f.get("sha256") else "")
                     + (f" (test accuracy {f['test_acc']:.4f})" if f.get("test_acc") is not None else "")
                     + (f", images resized {f['resize']}" if f.get("source") == "inception" else ""))
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
        elif key == "code_acc" and r.get("code_classes"):
            text = f"{v:.4f} (classes {' '.join('-' if k is None else str(k) for k in r['code_classes'])})"
        else:
            text = f"{v:.4f}"
        lines.append(f"  {name:<21} {text:<28} {what}")
    return "\n".join(lines)


def cmd_eval(args) -> int:
    from ganforge.errors import ConfigError
    from ganforge.io import to_json
    from ganforge.metrics.evaluate import evaluate_run, load_samples_file, score_samples

    say = _say(args)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    if args.samples:
        if args.run_dir:
            raise ConfigError("give either RUN_DIR or --samples FILE.npz, not both")
        if args.stage is not None:
            raise ConfigError("--stage picks a stage of a StackGAN run; drop it when scoring a file with --samples")
        if args.direction is not None:
            raise ConfigError("--direction picks a CycleGAN run's generator; drop it when scoring a file with --samples")
        if not args.dataset:
            raise ConfigError("--samples needs --dataset NAME (the data set the samples imitate)")
        x, y = load_samples_file(args.samples)
        result = score_samples(x, args.dataset, y, metrics, features=args.features,
                               inception_weights=args.inception_weights,
                               allow_unknown_inception=args.allow_unknown_inception, data_dir=args.data_dir,
                               device=args.device, seed=args.seed, resize=args.resize, log=say)
    elif args.run_dir:
        if args.dataset:
            raise ConfigError("--dataset is taken from the run's config; drop it, or score a file with --samples")
        num = args.num if args.num is not None else (50_000 if args.features == "inception" else 10_000)
        result = evaluate_run(args.run_dir, num, metrics, seed=args.seed, device=args.device, resize=args.resize,
                              features=args.features, inception_weights=args.inception_weights,
                              allow_unknown_inception=args.allow_unknown_inception, stage=args.stage,
                              direction=args.direction, printer=say)
    else:
        raise ConfigError("give a run directory (ganforge eval RUN_DIR) or a file (ganforge eval --samples FILE.npz --dataset NAME)")
    say(format_scores(result))
    if args.json:
        print(to_json(result), flush=True)  # strict JSON: an undefined metric is null, never NaN
    return 0


def cmd_export(args) -> int:
    from ganforge.export import export_generator

    meta = export_generator(args.run_dir, args.format, args.out, force=args.force, ort=args.ort)
    def shape(dims) -> str:
        return "(" + ", ".join(map(str, dims)) + ")"

    takes = ", ".join(f"{i['name']} {shape(i['shape'])} {i['dtype']}" for i in meta["inputs"])
    out = meta["output"]
    print(f"wrote {args.out} ({args.format}, {meta['family']} generator, {meta['weights']} weights of step "
          f"{meta['step']}): takes {takes}; returns {out['name']} {shape(out['shape'])} in [-1, 1]")
    return 0


def cmd_data_pack(args) -> int:
    from ganforge.data import pack as packing
    from ganforge.errors import ConfigError

    if args.size is not None and args.size < 1:
        raise ConfigError(f"--size must be a positive number of pixels, got {args.size}")
    key, _, arg = args.source.partition(":")
    if key == "folder":
        if args.size is None:
            raise ConfigError("packing a folder needs --size S: the images are made S x S (see --fit)")
        source = packing.folder_source(arg, args.size, args.channels or 3, args.fit)
    elif key in ("pack", "paired"):
        raise ConfigError(f"{args.source} cannot be packed; give a data set name (see `ganforge datasets`) or folder:PATH")
    else:
        if args.fit != "crop":
            raise ConfigError(f"--fit applies to folder:PATH sources; {args.source} is resized whole (drop --fit)")
        source = packing.dataset_source(args.source, args.split, args.size, args.channels, args.data_dir)
    try:
        info = packing.pack(source, args.out, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"ganforge: interrupted; the finished shards are kept: run the same command again to continue",
              file=sys.stderr)
        return 130
    c, size, _ = info.shape
    print(f"packed {info.count} images ({c}x{size}x{size}, {info.nbytes / 2**20:.1f} MiB) from {source.name} "
          f"into {info.path}; train with --dataset pack:{args.out}")
    return 0


def cmd_data_info(args) -> int:
    from ganforge.data import pack as packing

    info = packing.read_manifest(args.pack)
    m, c, size = info.manifest, info.shape[0], info.shape[1]
    classes = f"{len(info.class_names)} classes" if info.class_names else "no classes"
    print(f"pack:{args.pack}: {info.count} images {c}x{size}x{size}, {classes}, {len(m['shards'])} shards, "
          f"{m.get('skipped', 0)} source files skipped; from {m['source']['name']} (fit {m['source'].get('fit')})")
    if args.verify:
        bad = packing.verify_pack(args.pack)
        if bad:
            from ganforge.errors import DataError

            raise DataError(f"pack:{args.pack}: shard(s) {', '.join(map(str, bad))} do not match their sha256; "
                            "the pack is damaged: pack the source again into a new folder")
        print(f"all {len(m['shards'])} shards match their sha256")
    return 0


def cmd_classifier(args) -> int:
    from ganforge.errors import ConfigError
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


# ---------------------------------------------------------------------------
# Parser

class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr like every other error (and no abbreviated flags)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"ganforge: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ganforge", description="Train, evaluate and sample GANs on image data.")
    p.add_argument("--version", action="version", version=f"ganforge {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a preset", description="Train a GAN from a named preset.")
    t.add_argument("--preset", default="digits-dcgan", help="preset name (see `ganforge presets`); default digits-dcgan")
    t.add_argument("--dataset", help="data set name (see `ganforge datasets`) or folder:PATH")
    t.add_argument("--domains", metavar="DATASET:A,B", help="CycleGAN: two classes of a data set as its domains, "
                   "e.g. fashion-mnist:sneaker,ankle-boot or folder:PATH:trainA,trainB")
    t.add_argument("--data-dir", help="folder holding the data set's files")
    t.add_argument("--epochs", type=int, help="number of epochs")
    t.add_argument("--steps", type=int, help="stop after N generator updates (overrides --epochs)")
    t.add_argument("--minutes", type=float, help="time budget: checkpoint and stop after M minutes of training")
    t.add_argument("--seed", type=int, help="random seed")
    t.add_argument("--device", choices=["cpu", "cuda", "auto"], help="where to train")
    t.add_argument("--out", help="run directory (default runs/<time>-<preset>)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its newest checkpoint")
    t.add_argument("--init-from", metavar="RUN_OR_CHECKPOINT", help="fine-tune: a new run starting from another run's "
                   "G, D and EMA weights (its newest checkpoint, or the checkpoint file given); train.freeze_d=N keeps "
                   "D's first N layers")
    t.add_argument("--checkpoint-every", type=int, metavar="N", help="write a checkpoint every N epochs (the last is always written)")
    t.add_argument("overrides", nargs="*", metavar="key=value", help="override any config field, e.g. train.batch_size=128")
    t.set_defaults(func=cmd_train)

    b = sub.add_parser("bench", help="time training and sampling of a preset on this machine",
                       description="Time a preset's training steps (median of several windows after a warm-up) "
                                   "and its sampling; prints img/s, GFLOP/s and the device.")
    b.add_argument("--preset", default="mnist-dcgan", help="preset name; default mnist-dcgan")
    b.add_argument("--dataset", help="data set name (same shape is all that matters for speed)")
    b.add_argument("--steps", type=int, default=30, help="timed training steps, split into windows (default 30)")
    b.add_argument("--windows", type=int, default=5, help="timing windows; the median is reported (default 5)")
    b.add_argument("--device", choices=["cpu", "cuda", "auto"], help="where to run")
    b.add_argument("--json", action="store_true", help="print one JSON object last")
    b.add_argument("overrides", nargs="*", metavar="key=value", help="override any config field, e.g. train.precision=bf16")
    b.set_defaults(func=cmd_bench)

    pr = sub.add_parser("presets", help="list the named presets")
    pr.set_defaults(func=cmd_presets)

    d = sub.add_parser("datasets", help="list the data sets and whether they are available")
    d.set_defaults(func=cmd_datasets)

    s = sub.add_parser("sample", help="draw samples from a trained run")
    s.add_argument("run_dir", help="run directory (or checkpoint file)")
    s.add_argument("--num", type=int, default=64, help="number of samples")
    s.add_argument("--out", required=True, help="FILE.npz (arr_0 uint8 NHWC, arr_1 labels) or a folder for PNGs")
    s.add_argument("--class", dest="class_", type=int, help="draw only this class (conditional models)")
    s.add_argument("--code", action="append", metavar="NAME=VALUE",
                   help="fix a latent code of an InfoGAN model, e.g. --code cat=3 --code c1=0.5 (repeatable)")
    s.add_argument("--seed", type=int, default=0, help="random seed")
    s.add_argument("--stage", type=int, choices=[1, 2], help="StackGAN runs: draw stage I's images (at its own size) "
                   "or stage II's (the default)")
    s.add_argument("--device", default="cpu", help="cpu or cuda")
    s.add_argument("--force", action="store_true", help="replace existing output")
    s.add_argument("--interpolate", type=int, metavar="K", help="walk through the latents of K seeds (slerp); --out a .png strip or .gif")
    s.add_argument("--steps", type=int, default=8, help="images between two seeds with --interpolate (default 8)")
    s.set_defaults(func=cmd_sample)

    tr = sub.add_parser("translate", help="apply a trained translator (pix2pix) to your own images",
                        description="Translate image files, a folder of images or an .npz with a trained "
                                    "image-to-image model (pix2pix). Images of the model's input size are used as "
                                    "they are; others are resized to it (--fit resize) or cut into tiles of it "
                                    "(--fit tile: the output keeps the picture's proportions, enlarged x4 by an "
                                    "sr4 model).")
    tr.add_argument("run_dir", help="run directory (or checkpoint file)")
    tr.add_argument("--input", required=True, help="an image file, a folder of images, or FILE.npz (arr_0 uint8 N,H,W[,C])")
    tr.add_argument("--out", required=True, help="a folder for PNGs (one per input, same name) or FILE.npz")
    tr.add_argument("--fit", default="resize", help="inputs of another size: resize (default) or tile")
    tr.add_argument("--direction", choices=["a2b", "b2a"], help="two-way models (CycleGAN): which way")
    tr.add_argument("--device", default="cpu", help="cpu or cuda")
    tr.add_argument("--force", action="store_true", help="replace existing output files")
    tr.set_defaults(func=cmd_translate)

    r = sub.add_parser("report", help="write report.html for a run", description="Write a self-contained HTML report of a run.")
    r.add_argument("run_dir", help="run directory")
    r.add_argument("--out", help="where to write the page (default RUN_DIR/report.html, refreshed on every call)")
    r.add_argument("--force", action="store_true", help="replace an existing --out file")
    r.set_defaults(func=cmd_report)


    e = sub.add_parser("eval", help="score a run's samples or a samples file: FID, KID, IS, precision/recall",
                       description="Score samples against a data set with ganforge's reference classifier.")
    e.add_argument("run_dir", nargs="?", help="run directory (or checkpoint file) to sample from")
    e.add_argument("--samples", metavar="FILE.npz", help="score this file instead (arr_0 uint8 N,H,W,C or grey N,H,W; arr_1 labels)")
    e.add_argument("--dataset", help="data set the samples imitate (required with --samples)")
    e.add_argument("--data-dir", help="folder holding the data set's files")
    e.add_argument("--num", type=int, help="samples to draw from the run (default 10000; 50000 with --features "
                   "inception, the published protocol)")
    e.add_argument("--metrics", help="comma-separated subset of fid,kid,is,pr,class_acc,code_acc (default all)")
    e.add_argument("--features", choices=["reference", "inception"], default="reference",
                   help="feature network: ganforge's reference classifier (default) or Inception-v3")
    e.add_argument("--inception-weights", metavar="PATH", help="the TorchScript inception-2015-12-05.pt file "
                   "(checked against its known sha256); without it the file is downloaded into the cache on first use")
    e.add_argument("--allow-unknown-inception", action="store_true",
                   help="use an --inception-weights file whose sha256 is not the known one (scores not comparable)")
    e.add_argument("--resize", choices=["pil-bicubic", "legacy-tf"], help="--features inception: how images reach "
                   "299x299: pil-bicubic (clean-fid's, the default) or legacy-tf (the network's own bilinear resize, "
                   "as stylegan2-ada-pytorch and the TensorFlow FID code)")
    e.add_argument("--seed", type=int, default=0, help="random seed for sampling and KID subsets")
    e.add_argument("--stage", type=int, choices=[1, 2], help="StackGAN runs: score stage I's images upsampled to the "
                   "full size (bicubic), or stage II's (the default)")
    e.add_argument("--direction", choices=["a2b", "b2a"], help="CycleGAN runs: score the A -> B translations of the "
                   "test split's A images (the default) or B -> A")
    e.add_argument("--device", default="cpu", help="cpu or cuda")
    e.add_argument("--json", action="store_true", help="print the result as one JSON object (last line)")
    e.set_defaults(func=cmd_eval)

    x = sub.add_parser("export", help="write a run's generator as a TorchScript or ONNX file that runs without ganforge",
                       description="Write a run's generator (its EMA weights when kept) as a file that runs without "
                                   "ganforge, with what drives it (inputs, classes, codes, output range) stored inside.")
    x.add_argument("run_dir", help="run directory (or checkpoint file)")
    x.add_argument("--format", required=True, choices=["torchscript", "onnx", "web"],
                   help="torchscript (.pt), onnx (.onnx), or web (.html: a page that generates in the browser)")
    x.add_argument("--ort", metavar="PATH", help="--format web: onnxruntime-web from this tarball or unpacked package "
                   "(offline) instead of the npm registry")
    x.add_argument("--out", required=True, help="the file to write")
    x.add_argument("--force", action="store_true", help="replace an existing --out file")
    x.set_defaults(func=cmd_export)

    dp = sub.add_parser("data", help="pack a data set once for fast, bounded-memory training (pack, info)",
                        description="Packs: images decoded once into a memory-mapped file (docs/data.md).")
    dsub = dp.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    pk = dsub.add_parser("pack", help="decode a data set or folder into a pack", description=(
        "Decode SOURCE once into DIR (images.u8, labels, manifest.json); train with --dataset pack:DIR. "
        "An interrupted pack continues when run again; the source is only read."))
    pk.add_argument("source", metavar="SOURCE", help="a data set name (see `ganforge datasets`) or folder:PATH")
    pk.add_argument("--out", required=True, metavar="DIR", help="a new folder for the pack")
    pk.add_argument("--size", type=int, metavar="S", help="make the images S x S (required for folder:PATH)")
    pk.add_argument("--channels", type=int, choices=[1, 3], help="1 (grey) or 3 (RGB); default: the data set's, 3 for a folder")
    pk.add_argument("--fit", choices=["crop", "pad", "stretch"], default="crop",
                    help="non-square images: centre crop (default), pad with black, or stretch")
    pk.add_argument("--split", choices=["train", "test"], default="train", help="which split of a named data set")
    pk.add_argument("--data-dir", help="folder holding the data set's files")
    pk.add_argument("--no-progress", action="store_true", help="no progress bar")
    pk.set_defaults(func=cmd_data_pack)
    pi = dsub.add_parser("info", help="show a pack's manifest (and check its shards with --verify)")
    pi.add_argument("pack", metavar="DIR")
    pi.add_argument("--verify", action="store_true", help="recompute every shard's sha256")
    pi.set_defaults(func=cmd_data_info)

    c = sub.add_parser("classifier", help="train or show the reference classifier behind the metrics")
    c.add_argument("action", choices=["train", "info"], help="train: train (and cache) it; info: show it")
    c.add_argument("--dataset", required=True, help="data set name (see `ganforge datasets`) or folder:PATH")
    c.add_argument("--data-dir", help="folder holding the data set's files")
    c.add_argument("--image-size", type=int, help="folder:PATH only: resize images to this size")
    c.add_argument("--channels", type=int, choices=[1, 3], help="folder:PATH only: 1 or 3 channels")
    c.add_argument("--epochs", type=int, help="training epochs (default depends on the data set)")
    c.add_argument("--force", action="store_true", help="retrain even when weights are shipped or cached")
    c.set_defaults(func=cmd_classifier)
    return p


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"ganforge: warning: {message}", file=sys.stderr if file is None else file)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere on the line
    parser = build_parser()
    args = parser.parse_args([a for a in argv if a != "--debug"])
    args.debug = debug
    if not debug:
        warnings.showwarning = _one_line_warning
    if not getattr(args, "command", None):
        parser.print_help()
        return 1
    try:
        return args.func(args)
    except GanforgeError as err:
        if args.debug:
            raise
        print(f"ganforge: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("ganforge: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
