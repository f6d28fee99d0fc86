"""report.html: one self-contained page (images embedded as base64) that tells the story of a run.

Written at the end of training and by ``ganforge report RUN_DIR``. It shows what the run
directory holds and skips what it does not: samples drawn from the newest checkpoint (one
class per row for conditional models), the real-image grid, the training GIF, a latent
interpolation, loss, metric and D-probability plots, evaluation records, timings, the
resolved config and the environment.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import platform
import sys
from datetime import datetime
from pathlib import Path

import numpy as np

from ganforge import __version__
from ganforge.errors import GanforgeError
from ganforge.io import read_jsonl, to_json, write_text
from ganforge.ops.forms import cpu_name

_LOSS_KEYS = {"step", "epoch", "d_loss", "g_loss"}
_EVENTS = {"epoch", "resume", "stopped", "ada", "init_from"}


# ---------------------------------------------------------------------------
# Environment

def environment(device: str | None = None) -> dict:
    import torch

    env = {
        "ganforge": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device or "cpu",
    }
    if device and device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return env


# ---------------------------------------------------------------------------
# Pieces of the page

def _img(data: bytes, mime: str, alt: str, pixelated: bool = True) -> str:
    b64 = base64.b64encode(data).decode("ascii")
    cls = ' class="px"' if pixelated else ""
    return f'<img{cls} alt="{html.escape(alt)}" src="data:{mime};base64,{b64}">'


def _file_img(path: Path, alt: str, pixelated: bool = True) -> str:
    mime = "image/gif" if path.suffix.lower() == ".gif" else "image/png"
    return _img(path.read_bytes(), mime, alt, pixelated)


def _png(array: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array.squeeze(2) if array.shape[2] == 1 else array).save(buf, format="PNG")
    return buf.getvalue()


def _png_img(array: np.ndarray, alt: str) -> str:
    return _img(_png(array), "image/png", alt)


def _figure(body: str, caption: str) -> str:
    return f"<figure>{body}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _table(rows: list[dict], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c, '')))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (dict, list)):
        return to_json(v)
    return str(v)


def _generated(run_dir: Path) -> tuple[dict[str, str], str]:
    """({figure key: HTML}, note): the family's report figures, drawn from the newest checkpoint."""
    from ganforge.sampler import load_generator
    from ganforge.viz.grid import make_grid, to_uint8_hwc

    try:
        sampler = load_generator(run_dir)
    except GanforgeError as err:
        return {}, f"<p class=note>No samples: {html.escape(str(err))}</p>"
    figures = {}
    for fig in sampler.family.report_figures(sampler):
        size = fig.images.shape[-1]
        scale, pad = max(1, 64 // size), max(1, size // 14)
        grid = _png_img(make_grid(to_uint8_hwc(fig.images), nrow=fig.columns, pad=pad, scale=scale), fig.key)
        if fig.row_labels:
            rows = "".join(f"<div>{html.escape(str(n))}</div>" for n in fig.row_labels)
            grid = f'<div class="labelled"><div class="rowlabels" style="--rows:{len(fig.row_labels)}">{rows}</div>{grid}</div>'
        figures[fig.key] = _figure(grid, fig.caption)
    return figures, ""


def _status(records: list[dict], state: dict | None, cfg: dict) -> str:
    if state is None:
        return "no checkpoint yet"
    t = cfg.get("train", {})
    target = f"{t.get('steps')} steps" if t.get("steps") else f"{t.get('epochs')} epochs"
    done = (state["step"] >= t["steps"]) if t.get("steps") else (state["epoch"] >= t.get("epochs", 0))
    last_stop = next((r for r in reversed(records) if r.get("event") in ("stopped", "resume")), None)
    if last_stop and last_stop.get("event") == "stopped":
        return f"stopped: {last_stop.get('reason', '')} (target {target})"
    return f"finished ({target})" if done else f"in progress or interrupted (target {target}; resume with ganforge train --resume)"


# ---------------------------------------------------------------------------

def build_report(run_dir: str | Path, device: str | None = None) -> str:
    """The HTML text of the report for ``run_dir``."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.yaml"
    if not run_dir.is_dir() or not config_path.is_file():
        raise GanforgeError(f"{run_dir} is not a ganforge run directory (no config.yaml); give the folder a run was written to")
    import yaml

    from ganforge.rundir import list_checkpoints, load_checkpoint

    config_text = config_path.read_text()
    cfg = yaml.safe_load(config_text) or {}
    records = read_jsonl(run_dir / "metrics.jsonl")
    state = None
    for path in reversed(list_checkpoints(run_dir)):
        try:
            state = load_checkpoint(path)
            state["path"] = path.name
            break
        except GanforgeError:
            continue

    env_path = run_dir / "environment.json"
    if env_path.is_file():
        env, env_note = json.loads(env_path.read_text()), "the machine that trained the run"
    else:
        env, env_note = environment(device), "the machine that wrote this report"

    sections = []
    # -- summary ---------------------------------------------------------
    data = cfg.get("data", {})
    model = cfg.get("model", {})
    summary = {
        "preset": cfg.get("preset"), "data set": data.get("name"), "model": f"{model.get('arch')}"
        + (" (conditional)" if model.get("conditional") else ""),
        "loss": cfg.get("loss", {}).get("name"), "status": _status(records, state, cfg),
        "step": state["step"] if state else 0, "epoch": state["epoch"] if state else 0,
        "checkpoint": state["path"] if state else "none",
        **({"initialised from": cfg["train"]["init_from"]} if cfg.get("train", {}).get("init_from") else {}),
        "report written": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
    }
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in summary.items())
    sections.append(f"<table class=kv>{rows}</table>")

    # -- images ------------------------------------------------------------
    translator = cfg.get("family") in ("pix2pix", "cyclegan")
    grid_name = ("The fixed training pairs' translations (source, output, target; CycleGAN: input, output, cycle)"
                 if translator else "The fixed latent grid")
    generated, note = _generated(run_dir)
    samples = generated.pop("samples", "")
    interp = generated.pop("interpolation", "")
    figs = []
    if (run_dir / "reals.png").is_file():
        figs.append(_figure(_file_img(run_dir / "reals.png", "real images"), "Real images from the training set"))
    if samples:
        figs.append(samples)
    else:
        frames = sorted((run_dir / "samples").glob("epoch_*.png"))
        if frames:
            figs.append(_figure(_file_img(frames[-1], "samples", pixelated=False), f"Samples after {frames[-1].stem.replace('_', ' ')}"))
    sections.append("<h2>Real and generated</h2>" + note + f'<div class="row">{"".join(figs)}</div>')
    if (run_dir / "progress.gif").is_file():
        sections.append("<h2>Training progress</h2>" + _figure(_file_img(run_dir / "progress.gif", "training GIF"),
                                                               f"{grid_name} after every epoch (animated; a still view shows epoch 1)"))
    if interp:
        sections.append("<h2>Latent interpolation</h2>" + interp)
    if generated:  # any further figures of the run's family
        sections.append("<h2>More from the final generator</h2>" + f'<div class="row">{"".join(generated.values())}</div>')

    # -- curves, histograms, metrics ------------------------------------
    plots = []
    if (run_dir / "losses.png").is_file():
        plots.append(_figure(_file_img(run_dir / "losses.png", "loss curves", pixelated=False), "D and G losses per step"))
    if (run_dir / "augment.png").is_file():
        plots.append(_figure(_file_img(run_dir / "augment.png", "ADA", pixelated=False),
                             "ADA: the augmentation probability p, and r_t = E[sign D(real)] against its target"))
    seen = {"losses.png", "reals.png", "augment.png"}
    for pattern, caption in (("*metric*.png", "Metric curve"), ("fid*.png", "FID curve"), ("d_hist*.png", "D probabilities on real and generated images"),
                             ("*prob*.png", "D probabilities")):
        for path in sorted(run_dir.glob(pattern)):
            if path.name not in seen:
                seen.add(path.name)
                plots.append(_figure(_file_img(path, path.stem, pixelated=False), f"{caption}: {path.name}"))
    sections.append("<h2>Curves and histograms</h2>" + (f'<div class="row">{"".join(plots)}</div>' if plots else "<p class=note>No plots yet.</p>"))
    if not any(p.startswith("d_hist") for p in seen):
        sections.append("<p class=note>No D-probability histograms (d_hist*.png) in this run directory.</p>")
    evals = [r for r in records if r.get("event") not in _EVENTS and not (set(r) <= _LOSS_KEYS)]
    if evals:
        columns = list(dict.fromkeys(k for r in evals for k in r))
        sections.append("<h2>Evaluation</h2>" + _table(evals, columns))

    # -- timings -------------------------------------------------------------
    epochs = [r for r in records if r.get("event") == "epoch"]
    if epochs:
        total = sum(r.get("seconds", 0) for r in epochs)
        mean_ips = sum(r.get("img_per_s", 0) for r in epochs) / len(epochs)
        shown = epochs if len(epochs) <= 20 else [*epochs[:5], {"epoch": "..."}, *epochs[-10:]]
        sections.append(f"<h2>Timings</h2><p>{len(epochs)} epochs, {total:.1f} s of training, "
                        f"{mean_ips:.0f} images/s on average.</p>" + _table(shown, ["epoch", "step", "seconds", "img_per_s"]))

    # -- config and environment ----------------------------------------------
    sections.append("<h2>Resolved config</h2><pre>" + html.escape(config_text) + "</pre>")
    env_rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in env.items())
    sections.append(f"<h2>Environment</h2><p class=note>Of {env_note}.</p><table class=kv>{env_rows}</table>")

    title = html.escape(f"ganforge run {run_dir.resolve().name}")
    return _PAGE.format(title=title, body="\n".join(sections))


def write_report(run_dir: str | Path, out: str | Path | None = None, device: str | None = None) -> Path:
    """Write ``report.html`` (or ``out``) for a run; at the end of training also record the environment."""
    run_dir = Path(run_dir)
    if device is not None and not (run_dir / "environment.json").exists():
        write_text(run_dir / "environment.json", to_json(environment(device), indent=1) + "\n")
    path = Path(out) if out is not None else run_dir / "report.html"
    write_text(path, build_report(run_dir, device))
    return path


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 16px 24px; color: #222; }}
h1 {{ font-size: 22px; margin: 4px 0 12px; }} h2 {{ font-size: 18px; border-bottom: 1px solid #ddd; padding-bottom: 3px; margin-top: 28px; }}
.row {{ display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }}
figure {{ margin: 0; }} figcaption {{ font-size: 13px; color: #555; margin-top: 4px; max-width: 560px; }}
img {{ display: block; max-width: 100%; }} img.px {{ image-rendering: pixelated; }}
.labelled {{ display: flex; }} .rowlabels {{ display: grid; grid-template-rows: repeat(var(--rows), 1fr); font-size: 12px; margin-right: 6px; text-align: right; }}
.rowlabels div {{ display: flex; align-items: center; justify-content: flex-end; }}
table {{ border-collapse: collapse; font-size: 13px; }} th, td {{ border: 1px solid #ddd; padding: 3px 8px; text-align: left; }}
table.kv th {{ background: #f6f6f6; }} pre {{ background: #f6f6f6; padding: 10px; font-size: 12px; max-height: 420px; overflow: auto; }}
.note {{ color: #666; font-size: 13px; }}
</style></head>
<body data-images="pending">
<h1>{title}</h1>
{body}
<script>
window.addEventListener("load", function () {{
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) {{ return i.complete && i.naturalWidth > 0; }}).length;
  document.body.setAttribute("data-images", ok + "/" + imgs.length);
}});
</script>
</body></html>
"""
