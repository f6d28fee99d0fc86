"""The training loop: data, models, the D/G schedule, artifacts and checkpoints.

A run directory holds everything a run makes:

    config.yaml          the resolved configuration
    reals.png            a grid of real images (or a scatter of real points)
    samples/epoch_NNNN.png   the same fixed latents drawn after every epoch
    progress.gif         all epochs' grids as an animation
    metrics.jsonl        append-only: losses per step, one record per epoch, evaluations
    losses.png           D and G loss curves
    metrics.png, d_hist.png, d_sorted.png   with train.eval_every: FID curve, D on real vs fake
    checkpoints/         ckpt_<step>.pt, the whole resumable state; best.pt (lowest FID)
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from datetime import datetime
from pathlib import Path

import torch

from ganforge import __version__
from ganforge.config import RunConfig, from_saved
from ganforge.data import Dataset, load_dataset, mixture_centers, normalize
from ganforge.errors import ConfigError, GanforgeError
from ganforge.io import append_jsonl, read_jsonl, write_text
from ganforge.metrics.evaluate import TrainingEvaluator
from ganforge.models import build_models
from ganforge.models.base import sample_latent
from ganforge.train.augment import with_augment
from ganforge.train.batches import epoch_batches
from ganforge.train import distributed
from ganforge.train.checkpoint import list_checkpoints, resume_point, rng_state, save_checkpoint, set_rng_state
from ganforge.train.ema import EMA
from ganforge.train.optim import build_optimizer
from ganforge.train.signals import GracefulStop
from ganforge.train.steps import Stepper
from ganforge.viz import plot_losses, save_gif, save_image_grid, write_report

# Fields that may change when a run is resumed; everything else must match the checkpoint.
RESUMABLE_KEYS = ("train.epochs", "train.steps", "train.minutes", "train.device", "train.progress", "train.checkpoint_every",
                  "train.keep_checkpoints", "train.log_every", "train.tensorboard",
                  "train.threads", "train.compile", "train.channels_last", "train.eval_every", "train.eval_num")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device=cuda but no CUDA device is available; use --device cpu or auto")
    return torch.device(name)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bf16 matrices in hardware (CUDA with bf16, CPUs with AVX512-BF16 or AMX
    that oneDNN is allowed to use)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        checks = (getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
        return any(check() for check in checks if check is not None) and _onednn_bf16()
    return False


def _onednn_bf16() -> bool:
    """Whether oneDNN runs bf16 natively here: ONEDNN_MAX_CPU_ISA below AVX512_CORE_BF16 makes it emulate bf16."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return check is None or bool(check())


def check_compile_threads(device: torch.device) -> None:
    """torch 2.13's compiled CPU kernels crash the process (segfault or heap corruption) on one thread of an
    AVX-512 CPU, the same with ganforge 0.1: refuse that combination in one line rather than crash."""
    if (device.type == "cpu" and torch.get_num_threads() == 1
            and torch.backends.cpu.get_cpu_capability().startswith("AVX512")):
        raise ConfigError("train.compile on one CPU thread crashes torch's compiled kernels on this AVX-512 CPU; "
                          "use train.threads=2 or more, or train.compile=false")


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` is bf16 where the hardware has it (1.6x faster than fp32 on an AVX512-BF16 CPU,
    same FID: docs/benchmarks.md), fp32 elsewhere (emulated bf16 is slower than fp32)."""
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def autocast_for(precision: str, device: torch.device):
    """A zero-argument context factory: autocast for bf16/fp16, a no-op for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("train.precision=fp16 needs a CUDA device; use bf16 on CPU")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return lambda: torch.autocast(device.type, dtype=dtype)


def default_run_dir(preset: str) -> Path:
    return Path("runs") / f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{preset}"


def fixed_latents(cfg: RunConfig, num_classes: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The latent grid drawn every epoch; independent of the training RNG. Conditional: one class per row."""
    g = torch.Generator().manual_seed(cfg.train.seed + 12345)
    n = cfg.train.num_samples
    if num_classes:
        per_row = max(1, n // num_classes) if n >= num_classes else 1
        y = torch.arange(num_classes).repeat_interleave(per_row)
        return sample_latent(len(y), cfg.model.z_dim, cfg.model.noise, generator=g), y
    return sample_latent(n, cfg.model.z_dim, cfg.model.noise, generator=g), None


class Trainer:
    def __init__(self, cfg: RunConfig, run_dir: str | Path | None = None, resume_state: dict | None = None):
        self.cfg = cfg
        t = cfg.train

        # -- device, processes (torchrun), precision, seed -----------------
        self.dist = distributed.setup(resolve_device(t.device))
        self.device = self.dist.device
        self.rank, self.world_size, self.is_main = self.dist.rank, self.dist.world_size, self.dist.is_main
        self.run_dir = Path(distributed.broadcast_object(
            str(run_dir) if run_dir is not None else str(default_run_dir(cfg.preset)), self.dist))
        self.resume_state = resume_state
        # rank 0 looks (the directory may be on its disk only) and every rank hears, so all of them stop
        taken = None
        if self.is_main and self.run_dir.exists() and not self.run_dir.is_dir():
            taken = f"--out {self.run_dir} is an existing file, not a run directory; pick a new --out"
        elif self.is_main and resume_state is None and self.run_dir.exists() and any(self.run_dir.iterdir()):
            taken = f"run directory {self.run_dir} already exists; pick a new --out or continue it with --resume {self.run_dir}"
        taken = distributed.broadcast_object(taken, self.dist)
        if taken:
            raise GanforgeError(taken)
        if t.threads:
            torch.set_num_threads(t.threads)
        self.precision = resolve_precision(t.precision, self.device)
        self.autocast = autocast_for(self.precision, self.device)
        scaler = torch.amp.GradScaler("cuda") if self.precision == "fp16" else None
        torch.manual_seed(t.seed)

        # -- data --------------------------------------------------------
        self.data: Dataset = load_dataset(cfg.data.name, data_dir=cfg.data.data_dir, split="train",
                                          download=cfg.data.download, image_size=cfg.data.image_size,
                                          channels=cfg.data.channels)
        if len(self.data) < t.batch_size * self.world_size:
            raise ConfigError(f"data set '{self.data.name}' has {len(self.data)} samples, fewer than one batch "
                              f"(train.batch_size={t.batch_size}); lower the batch size")
        if cfg.model.conditional and not self.data.num_classes:
            raise ConfigError(f"model.conditional=true needs labels, but data set '{self.data.name}' has none")
        self.modes = mixture_centers(self.data.name) if self.data.kind == "points" else None  # marked on scatter plots
        self.x = self.data.x.to(self.device)
        self.y = self.data.y.to(self.device) if self.data.y is not None else None

        # -- models, optimisers, EMA -------------------------------------
        num_classes = self.data.num_classes if cfg.model.conditional else 0
        self.G, self.D = build_models(cfg.model, self.data.shape, num_classes)
        for net in (self.G, self.D):
            net.to(self.device, memory_format=torch.channels_last if t.channels_last and self.data.x.dim() == 4
                   else torch.preserve_format)
            if t.sync_bn and self.dist.enabled:
                distributed.convert_sync_batchnorm(net, self.device)
        self.opt_g = build_optimizer(self.G.parameters(), cfg.g_optim)
        self.opt_d = build_optimizer(self.D.parameters(), cfg.d_optim)
        self.ema = EMA(self.G, t.ema, t.ema_warmup) if t.ema else None
        # self.G / self.D stay the plain modules (saved, sampled); the stepper trains their wrapped forms
        G_train, D_train = (distributed.wrap(net, self.dist) for net in (self.G, self.D))
        if t.compile:
            check_compile_threads(self.device)
            G_train, D_train = torch.compile(G_train), torch.compile(D_train)
        D_train = with_augment(D_train, t, len(self.data))  # DiffAugment in front of D (train/augment.py)
        self.stepper = Stepper(G_train, D_train, self.opt_g, self.opt_d, cfg, self.device,
                               self.autocast, scaler, self.ema)
        if self.dist.enabled:
            torch.manual_seed(t.seed + 1_000_003 * (self.rank + 1))  # own latents and dropout per rank
        self.fixed_z, self.fixed_y = fixed_latents(cfg, num_classes)

        if t.update == "simultaneous" and (t.n_critic != 1 or t.extra_d_every):
            raise ConfigError("train.update=simultaneous takes one D and one G update per step; "
                              "set train.n_critic=1 and train.extra_d_every=0 or use train.update=alternating")

        # -- evaluation every train.eval_every epochs (metrics/evaluate.py)
        self.evaluator = TrainingEvaluator(self)

        # -- counters, restored from a checkpoint when resuming ----------
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.epoch_seconds, self.epoch_images = 0.0, 0  # of the current epoch so far, across resumes
        if self.resume_state is not None and "G" in self.resume_state:  # else: restart of a run killed before its first checkpoint
            self._load_state(self.resume_state)
        self.tb = None

    # ------------------------------------------------------------------
    @classmethod
    def resume(cls, run_dir: str | Path, overrides: dict | None = None) -> "Trainer":
        """Continue a run from its newest checkpoint; only ``RESUMABLE_KEYS`` may be changed."""
        state = resume_point(run_dir)
        values = state["config"]
        overrides = overrides or {}
        for key, value in overrides.items():
            if key not in RESUMABLE_KEYS:
                raise ConfigError(f"cannot change {key} when resuming (only {', '.join(RESUMABLE_KEYS)}); start a new run instead")
            section, name = key.split(".")
            values[section][name] = value
        if "train.epochs" in overrides and "train.steps" not in overrides:
            values["train"]["steps"] = None  # a new epoch target replaces an old step budget
        if ("train.epochs" in overrides or "train.steps" in overrides) and "train.minutes" not in overrides:
            values["train"]["minutes"] = None  # ... and an old time budget
        return cls(from_saved(values), run_dir, resume_state=state)

    def state_dict(self) -> dict:
        return {
            "version": __version__,
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "epoch_progress": [self.epoch_seconds, self.epoch_images],
            "config": self.cfg.to_dict(),
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "G_ema": self.ema.shadow.state_dict() if self.ema else None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler": self.stepper.scaler.state_dict() if self.stepper.scaler else None,
            "rng": rng_state(self.device),
            "rng_ranks": distributed.gather_objects(rng_state(self.device), self.dist) if self.dist.enabled else None,
            "fixed_z": self.fixed_z,
            "fixed_y": self.fixed_y,
            "data": {"name": self.data.name, "shape": list(self.data.shape), "num_classes": self.data.num_classes,
                     "class_names": self.data.class_names},
        }

    def _load_state(self, state: dict) -> None:
        self.G.load_state_dict(state["G"], strict=True)
        self.D.load_state_dict(state["D"], strict=True)
        if self.ema is not None:
            self.ema.shadow.load_state_dict(state["G_ema"], strict=True)
            self.ema.num_updates = state["step"]  # one EMA update per G step
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.stepper.scaler is not None and state.get("scaler"):
            self.stepper.scaler.load_state_dict(state["scaler"])
        self.fixed_z, self.fixed_y = state["fixed_z"], state["fixed_y"]
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.epoch_seconds, self.epoch_images = state.get("epoch_progress", (0.0, 0))  # older checkpoints: none
        ranks = state.get("rng_ranks")
        set_rng_state(ranks[self.rank] if ranks and len(ranks) == self.world_size else state["rng"], self.device)

    # ------------------------------------------------------------------
    def _batch(self, idx: torch.Tensor):
        idx = idx.to(self.device, non_blocking=True)
        x = self.x[idx]
        real = normalize(x) if x.dtype == torch.uint8 else x
        return real, (self.y[idx] if self.y is not None and self.cfg.model.conditional else None)

    def _extra_d(self, step: int) -> bool:
        """Whether step ``step`` (0-based, counted over the whole run) takes the extra D update."""
        t = self.cfg.train
        if not t.extra_d_every:
            return False
        return step % t.extra_d_every == (0 if t.extra_d_on == "first" else t.extra_d_every - 1)

    def _d_batches_for(self, step: int) -> int:
        """Real batches step ``step`` takes from the epoch (an extra D update on the step's batch takes none)."""
        t = self.cfg.train
        return t.n_critic + (1 if self._extra_d(step) and t.extra_d_batch == "next" else 0)

    def _agree_on_stopping(self) -> None:
        """Read the clock and the stop signal once per step, the same on every rank.

        Under torchrun each rank has its own clock and its own signal handler; a rank that stopped
        one step before the others would leave them waiting in DDP's gradient all-reduce forever.
        So the time budget and a stop signal seen by any rank stop every rank after the same step.
        """
        t = self.cfg.train
        time_up = t.minutes is not None and time.perf_counter() - self._started >= 60.0 * t.minutes
        time_up, signum = distributed.max_over_ranks([int(time_up), self.stop.signum or 0], self.dist)
        self._time_up = bool(time_up)
        if signum:
            self.stop.request(signum)

    def _done(self) -> bool:
        t = self.cfg.train
        if self._time_up:
            return True
        if t.steps is not None:
            return self.step >= t.steps
        return self.epoch >= t.epochs

    @torch.no_grad()
    def sample_fixed(self) -> torch.Tensor:
        G = self.ema.shadow if self.ema else self.G
        was_training = G.training
        G.eval()
        out = G(self.fixed_z.to(self.device), None if self.fixed_y is None else self.fixed_y.to(self.device))
        G.train(was_training)
        return out.float().cpu()

    def _save_samples(self, epoch_label: int) -> None:
        if self.is_main:
            nrow = None if self.fixed_y is None else len(self.fixed_y) // self.data.num_classes
            save_image_grid(self.sample_fixed(), self.run_dir / "samples" / f"epoch_{epoch_label:04d}.png", nrow=nrow,
                            reference=self.modes)

    def _checkpoint(self) -> None:
        if not all(bool(torch.isfinite(p).all()) for p in [*self.G.parameters(), *self.D.parameters()]):
            self._nonfinite(f"weights became non-finite by step {self.step}", self.step)
        state = self.state_dict()  # collective with several ranks: every rank's RNG
        if self.is_main:
            save_checkpoint(state, self.run_dir, keep=self.cfg.train.keep_checkpoints)

    # ------------------------------------------------------------------
    def _start_run_dir(self) -> None:
        if not self.is_main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.resume_state is None:
            write_text(self.run_dir / "config.yaml", self.cfg.to_yaml())
            reals = self.x[:64 if self.modes is None else self.cfg.train.num_samples].cpu()
            save_image_grid(normalize(reals) if reals.dtype == torch.uint8 else reals, self.run_dir / "reals.png",
                            reference=self.modes)
        else:
            source = Path(self.resume_state["path"]).name if self.resume_state.get("path") else "config.yaml"
            append_jsonl(self.run_dir / "metrics.jsonl", [{"event": "resume", "step": self.step, "epoch": self.epoch,
                                                            "from": source}])
        if self.is_main and self.cfg.train.tensorboard:
            from ganforge.train.tensorboard import TensorBoardLogger

            self.tb = TensorBoardLogger(self.run_dir)

    def _flush(self, pending: list, bar, img_per_s: float = 0.0) -> dict | None:
        """Read buffered losses back from the device (one sync for many steps) and log them."""
        if not pending:
            return None
        values = torch.stack([torch.stack([d, g]) for _, _, d, g in pending]).float()
        values = distributed.mean_over_ranks(values, self.dist).cpu().tolist()
        records = [{"step": s, "epoch": e, "d_loss": d, "g_loss": g} for (s, e, _, _), (d, g) in zip(pending, values)]
        pending.clear()
        bad = [r for r in records if not (math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]))]
        if bad:
            append_jsonl(self.run_dir / "metrics.jsonl", records[:records.index(bad[0])]) if self.is_main else None
            self._nonfinite(f"losses became non-finite at step {bad[0]['step']} (D {bad[0]['d_loss']:.4g}, G {bad[0]['g_loss']:.4g})",
                            bad[0]["step"])
        last = records[-1]
        if self.is_main:
            append_jsonl(self.run_dir / "metrics.jsonl", records)
            if self.tb is not None:
                self.tb.losses(records)
            if bar is not None:
                bar.set_postfix(D=f"{last['d_loss']:.3f}", G=f"{last['g_loss']:.3f}", img_s=f"{img_per_s:.0f}", refresh=False)
        return last

    def _nonfinite(self, what: str, step: int) -> None:
        """Stop without writing a checkpoint, so the newest one on disk is the last good state."""
        kept = list_checkpoints(self.run_dir)
        keep = f"the last good checkpoint {kept[-1]} is kept" if kept else "no checkpoint had been written yet"
        if self.is_main:
            append_jsonl(self.run_dir / "metrics.jsonl", [{"event": "stopped", "step": step, "reason": what}])
        raise GanforgeError(f"{what}; training stopped and {keep}; lower the learning rates or change the loss")

    def train_step(self, chunk: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """One generator update and its D update(s) on the index batches in ``chunk``: (d_loss, g_loss).

        Alternating, a step is its D updates, one per batch of ``chunk``, then G's. The extra D update
        of ``train.extra_d_every`` comes first; with ``train.extra_d_batch=same`` it takes the step's
        first batch again. ``train.g_before_d`` moves G's update before the step's ``n_critic`` D updates
        (after an extra one): seed 001's CIFAR-10 loop is [D on even steps], G, D, all on one batch.
        """
        t = self.cfg.train
        if t.update == "simultaneous":
            real, y = self._batch(chunk[0])
            return self.stepper.simultaneous_step(real, y)
        if self._extra_d(self.step) and t.extra_d_batch == "same":
            chunk = [chunk[0], *chunk]
        before_g = len(chunk) - t.n_critic if t.g_before_d else len(chunk)
        for idx in chunk[:before_g]:
            d_loss = self.stepper.d_step(*self._batch(idx))
        g_loss = self.stepper.g_step(t.batch_size)
        for idx in chunk[before_g:]:
            d_loss = self.stepper.d_step(*self._batch(idx))
        return d_loss, g_loss

    def fit(self) -> Path:
        with GracefulStop() as self.stop:  # SIGINT/SIGTERM: finish the step, checkpoint, exit non-zero
            return self._fit()

    def _fit(self) -> Path:
        cfg, t = self.cfg, self.cfg.train
        self._started = time.perf_counter()
        self._time_up = False  # train.minutes spent (read once per step by _agree_on_stopping)
        self._start_run_dir()
        if self.is_main:
            what = f"{t.steps} steps" if t.steps is not None else f"{t.epochs} epochs"
            what += f" (at most {t.minutes:g} min)" if t.minutes is not None else ""
            print(f"ganforge {__version__}: training '{cfg.preset}' on {self.data.name} {tuple(self.data.shape)} x {len(self.data)} "
                  f"for {what} on {self.device} ({self.precision}) -> {self.run_dir}", flush=True)
        from tqdm import tqdm

        pending: list = []
        last = None
        saved_at = self.step if self.resume_state is not None else -1
        while not self._done():
            # -- one epoch ------------------------------------------------
            batches = epoch_batches(len(self.data), t.batch_size, t.seed, self.epoch, cfg.data.drop_last,
                                    self.rank, self.world_size, cfg.data.shuffle)
            per_step = t.n_critic
            bar = tqdm(total=len(batches) // per_step, initial=self.batch_in_epoch // per_step,
                       desc=f"epoch {self.epoch + 1}" + (f"/{t.epochs}" if t.steps is None else ""),
                       disable=not (t.progress and self.is_main), leave=False, file=sys.stderr,
                       mininterval=0.5 if sys.stderr.isatty() else 15, unit="step", dynamic_ncols=True,
                       delay=0 if sys.stderr.isatty() else 15)  # in a log file: nothing for an epoch under 15 s
            t0, images = time.perf_counter(), 0
            before_s, before_images = self.epoch_seconds, self.epoch_images  # a resumed epoch's earlier part
            while not self._done():
                need = self._d_batches_for(self.step)
                if self.batch_in_epoch + need > len(batches):
                    break
                chunk = batches[self.batch_in_epoch:self.batch_in_epoch + need]
                self.batch_in_epoch += need
                d_loss, g_loss = self.train_step(chunk)
                images += sum(len(i) for i in chunk) * self.world_size
                self.epoch_seconds, self.epoch_images = before_s + time.perf_counter() - t0, before_images + images
                self.step += 1
                pending.append((self.step, self.epoch + 1, d_loss, g_loss))
                if len(pending) >= t.log_every:
                    last = self._flush(pending, bar, images / (time.perf_counter() - t0))
                bar.update(1)
                self._agree_on_stopping()
                if self.stop.requested:
                    break
            bar.close()
            last = self._flush(pending, bar) or last
            seconds, images = self.epoch_seconds, self.epoch_images
            epoch_complete = self.batch_in_epoch + self._d_batches_for(self.step) > len(batches)
            if not epoch_complete:
                break  # stopped by train.steps or train.minutes in the middle of an epoch
            # -- end of epoch: samples, timing, checkpoint -----------------
            self.epoch += 1
            self.batch_in_epoch = 0
            self.epoch_seconds, self.epoch_images = 0.0, 0
            self._save_samples(self.epoch)
            if self.is_main:
                ips = images / max(seconds, 1e-9)
                append_jsonl(self.run_dir / "metrics.jsonl", [{"event": "epoch", "epoch": self.epoch, "step": self.step,
                                                                "seconds": round(seconds, 3), "img_per_s": round(ips, 1)}])
                losses = f"  D {last['d_loss']:.3f}  G {last['g_loss']:.3f}" if last else ""
                total = f"/{t.epochs}" if t.steps is None else ""
                print(f"epoch {self.epoch}{total}: {seconds:.1f} s, {ips:.0f} img/s, step {self.step}{losses}", flush=True)
            if self.epoch % t.checkpoint_every == 0 or self._done():
                self._checkpoint()
                saved_at = self.step
            if self.is_main and self.evaluator.due(self.epoch):
                self.evaluator()
            if self.tb is not None:
                self.tb.epoch(self.epoch, self.step, self.run_dir / "samples" / f"epoch_{self.epoch:04d}.png")
            self._agree_on_stopping()
            if self.stop.requested:
                break
        if self.stop.requested and not self._done():
            if saved_at != self.step:
                self._checkpoint()
            self.stop.exit(self.run_dir, self.step)

        # -- end of training: last grid, checkpoint, GIF, loss curves --------
        if self.batch_in_epoch:
            self._save_samples(self.epoch + 1)  # the partial epoch that train.steps stopped in
        if saved_at != self.step:
            self._checkpoint()
        if self.is_main:
            self._finish_artifacts()
        return self.run_dir

    def _finish_artifacts(self) -> None:
        frames = sorted((self.run_dir / "samples").glob("epoch_*.png"))
        save_gif(frames, self.run_dir / "progress.gif")
        plot_losses(read_jsonl(self.run_dir / "metrics.jsonl"), self.run_dir / "losses.png")
        write_report(self.run_dir, device=str(self.device))
        if self.tb is not None:
            self.tb.close()
        print(f"done: {self.step} steps, {self.epoch} epochs; run directory {self.run_dir}", flush=True)
