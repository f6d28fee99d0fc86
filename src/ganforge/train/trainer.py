"""The training loop: data, the family's networks, the D/G schedule, artifacts and checkpoints.

The loop knows nothing of latents or losses: it hands the family (``ganforge.families``) batches
and asks for losses (``train/steps.py``). What a run directory holds: ``ganforge/rundir.py``.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import torch
from torch import nn

from ganforge import __version__
from ganforge.config import RunConfig, from_saved
from ganforge.data import Dataset, load_dataset, mixture_centers, normalize
from ganforge.data.pack import PackReader, read_images
from ganforge.errors import ConfigError, GanforgeError
from ganforge.families import Batch, DataSpec, TrainingForms, build_family
from ganforge.io import write_text
from ganforge.metrics.evaluate import TrainingEvaluator
from ganforge.ops.forms import agreed, set_conv_forms
from ganforge.ops.memory import keep_freed_memory
from ganforge.rundir import RunDir, resume_point, save_checkpoint, write_checkpoint
from ganforge.train import distributed
from ganforge.train.augment import AdaptiveAugment, with_augment
from ganforge.train.batches import Prefetcher, epoch_batches, mirror, split_flips
from ganforge.train.ema import EMA
from ganforge.train.finetune import check_compatible, freeze_d_layers, init_point, load_weights
from ganforge.train.optim import build_optimizer
from ganforge.train.schedule import Schedule
from ganforge.train.signals import GracefulStop
from ganforge.train.state import Progress, rng_state, set_rng_state
from ganforge.train.steps import Stepper
from ganforge.viz import plot_augment, plot_losses, save_gif, save_image_grid, write_report

# Fields that may change when a run is resumed; everything else must match the checkpoint.
RESUMABLE_KEYS = ("train.epochs", "train.steps", "train.minutes", "train.device", "train.progress", "train.checkpoint_every",
                  "train.keep_checkpoints", "train.log_every", "train.tensorboard",
                  "train.threads", "train.compile", "train.channels_last", "train.eval_every", "train.eval_num",
                  "train.conv_forms")


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
    """``auto`` is bf16 where the hardware has bf16 units (faster than fp32 there, same FID), fp32 elsewhere
    (emulated bf16 is slower than fp32); docs/benchmarks.md measures both."""
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def autocast_for(precision: str, device: torch.device):
    """A zero-argument context factory: autocast for bf16/fp16, a no-op for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext
    if precision == "fp16" and device.type != "cuda":  # train.device=auto without CUDA (cpu is refused by validate)
        raise ConfigError("train.precision=fp16 needs a CUDA device; use bf16 on CPU")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return lambda: torch.autocast(device.type, dtype=dtype)


def choose_reader(data: Dataset, reader: str, device: torch.device):
    """``data.reader``: None to hold the whole set on the device, or a pack's ``PackReader`` to stream it
    (``auto``: packs larger than a quarter of the memory, the device's on CUDA, stream)."""
    if reader == "memory" or (reader == "auto" and data.pack is None):
        return None
    if data.pack is None:
        raise ConfigError(f"data.reader=stream reads packs; data set '{data.name}' is loaded whole. Pack it once with "
                          f"`ganforge data pack {data.name} --out DIR` and train with --dataset pack:DIR")
    if data.source is not None:
        raise ConfigError("data.reader=stream reads images alone; translation pairs are held in memory: "
                          "use data.reader=memory")
    if reader == "auto":
        if device.type == "cuda":
            memory = torch.cuda.get_device_properties(device).total_memory
        else:
            memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        if data.pack.nbytes <= memory // 4:
            return None
    return PackReader(data.pack)


def default_run_dir(preset: str) -> Path:
    return Path("runs") / f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{preset}"


class Trainer:
    def __init__(self, cfg: RunConfig, run_dir: str | Path | None = None, resume_state: dict | None = None):
        self.cfg = cfg
        t = cfg.train

        # -- device, processes (torchrun), precision, seed: decided once, here -------------
        self.dist = distributed.setup(resolve_device(t.device))
        self.device = self.dist.device
        self.rank, self.world_size, self.is_main = self.dist.rank, self.dist.world_size, self.dist.is_main
        self.run = RunDir(distributed.broadcast_object(
            str(run_dir) if run_dir is not None else str(default_run_dir(cfg.preset)), self.dist))
        self.run_dir = self.run.path
        self.resume_state = resume_state
        self._refuse_taken_run_dir()
        if t.threads:
            torch.set_num_threads(t.threads)
        if self.device.type == "cpu":
            keep_freed_memory()  # each step reuses the last one's pages (ops/memory.py)
        set_conv_forms(t.conv_forms)  # which form computes each convolution (ops/forms.py)
        self.precision = resolve_precision(t.precision, self.device)
        self.autocast = autocast_for(self.precision, self.device)
        scaler = torch.amp.GradScaler("cuda") if self.precision == "fp16" else None
        torch.manual_seed(t.seed)

        # -- data --------------------------------------------------------
        self.data: Dataset = load_dataset(cfg.data.name, data_dir=cfg.data.data_dir, split="train",
                                          download=cfg.data.download, image_size=cfg.data.image_size,
                                          channels=cfg.data.channels, pairs=cfg.data.pairs,
                                          unpaired=cfg.data.unpaired, domains=cfg.data.domains)
        if len(self.data) < t.batch_size * self.world_size:
            raise ConfigError(f"data set '{self.data.name}' has {len(self.data)} samples, fewer than one batch "
                              f"(train.batch_size={t.batch_size}); lower the batch size")
        if cfg.model.conditional == "auto":  # decided here, once: config.yaml and checkpoints hold true or false
            cfg.model.conditional = bool(self.data.num_classes) and cfg.family == "gan"
        if cfg.model.conditional and not self.data.num_classes:
            raise ConfigError(f"model.conditional=true needs labels, but data set '{self.data.name}' has none")
        self.modes = mixture_centers(self.data.name) if self.data.kind == "points" else None  # marked on scatter plots
        if cfg.data.xflip and self.data.kind != "image":
            raise ConfigError(f"data.xflip mirrors images; data set '{self.data.name}' holds 2-D points")
        self.reader = choose_reader(self.data, cfg.data.reader, self.device)  # None: the whole set on the device
        self.x = None
        if self.reader is None:  # the whole set on the device; a pack's mapped file read into memory once
            self.x = read_images(self.data.pack) if self.data.pack is not None else self.data.x
            self.x = self.x.to(self.device)
        self.feed: Prefetcher | None = None  # a streamed pack's reader thread, during an epoch
        self.source = self.data.source.to(self.device) if self.data.source is not None else None  # translation pairs

        # -- the family's networks, optimisers, EMA ----------------------
        self.family = build_family(cfg, DataSpec.of(self.data))
        self.y = self.data.y.to(self.device) if self.data.y is not None and self.family.uses_labels else None
        self.G, self.D = self.family.build()
        self.channels_last = t.channels_last and self.data.x.dim() == 4
        for net in (self.G, self.D):
            net.to(self.device, memory_format=torch.channels_last if self.channels_last else torch.preserve_format)
            if t.sync_bn and self.dist.enabled:
                distributed.convert_sync_batchnorm(net, self.device)
        # fine-tuning (train/finetune.py): a new run from another run's weights; FreezeD's layers never train
        init = self.init = None
        if t.init_from and not (self.resume_state is not None and "G" in self.resume_state):
            init = init_point(t.init_from)
            check_compatible(t.init_from, init, cfg, self.family.spec)
        self.frozen_d = freeze_d_layers(self.D, t.freeze_d, cfg.model.arch)
        self.opt_g = build_optimizer(self.G.parameters(), cfg.g_optim)
        self.opt_d = build_optimizer([p for p in self.D.parameters() if p.requires_grad], cfg.d_optim)
        self.ema = EMA(self.G, t.ema, t.ema_warmup) if t.ema else None
        if init is not None:
            load_weights(t.init_from, init, self.G, self.D, self.ema)
            t.init_from = init["path"]  # the checkpoint file read: config.yaml and every checkpoint name it
            self.init = {"path": init["path"], "step": init["step"], "epoch": init["epoch"]}
        # self.G / self.D stay the plain modules (saved, sampled); the family trains their wrapped forms
        G_train, D_train = (distributed.wrap(net, self.dist) for net in (self.G, self.D))
        if t.compile:
            check_compile_threads(self.device)
            G_train, D_train = torch.compile(G_train), torch.compile(D_train)
        one_backward = isinstance(G_train, nn.parallel.DistributedDataParallel) or hasattr(G_train, "_orig_mod")
        D_train = with_augment(D_train, t, len(self.data))  # DiffAugment in front of D (train/augment.py)
        self.ada = None  # ADA: the augmentation probability set from D's outputs on reals, which the family reports
        if t.ada_target is not None:
            if not self.family.reports_real_logits:
                raise ConfigError(f"train.ada_target needs D's outputs on the real images, which family '{cfg.family}' "
                                  "does not report; use family gan or drop train.ada_target")
            self.ada = AdaptiveAugment(D_train, t.ada_target, t.ada_kimg, t.ada_interval, self.dist)
        self.family.bind(TrainingForms(G_train, D_train, self.autocast, self.device, one_backward, scaler is not None,
                                       real_logits=self.ada.observe if self.ada else None))
        if t.update == "simultaneous" and not self.family.simultaneous:
            raise ConfigError(f"family '{cfg.family}' has no simultaneous update; use train.update=alternating")
        if t.update == "simultaneous" and (t.n_critic != 1 or t.extra_d_every):
            raise ConfigError("train.update=simultaneous takes one D and one G update per step; "
                              "set train.n_critic=1 and train.extra_d_every=0 or use train.update=alternating")
        self.schedule = Schedule(t)
        self.stepper = Stepper(self.family, self.opt_g, self.opt_d, self.schedule, scaler, self.ema, self.ada)
        if self.dist.enabled:
            torch.manual_seed(t.seed + 1_000_003 * (self.rank + 1))  # own latents and dropout per rank
        self.family.fixed = self.family.fixed_inputs(t.num_samples, t.seed, self.data)  # a checkpoint's replace them below

        # -- evaluation every train.eval_every epochs (metrics/evaluate.py)
        self.evaluator = TrainingEvaluator(cfg, self.data, self.device)

        # -- where the run is, restored from a checkpoint when resuming --
        self.progress = Progress()
        if self.resume_state is not None and "G" in self.resume_state:  # else: restart of a run killed before its first checkpoint
            self._load_state(self.resume_state)
        self.tb = None

    def _refuse_taken_run_dir(self) -> None:
        """Rank 0 looks (the directory may be on its disk only) and every rank hears, so all of them stop."""
        taken = None
        if self.is_main and self.run_dir.exists() and not self.run_dir.is_dir():
            taken = f"--out {self.run_dir} is an existing file, not a run directory; pick a new --out"
        elif self.is_main and self.resume_state is None and self.run_dir.exists() and any(self.run_dir.iterdir()):
            taken = f"run directory {self.run_dir} already exists; pick a new --out or continue it with --resume {self.run_dir}"
        taken = distributed.broadcast_object(taken, self.dist)
        if taken:
            raise GanforgeError(taken)

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

    @property
    def step(self) -> int:
        return self.progress.step

    @property
    def epoch(self) -> int:
        return self.progress.epoch

    def state_dict(self) -> dict:
        return {
            "version": __version__,
            **self.progress.state_dict(),
            "config": self.cfg.to_dict(),
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "G_ema": self.ema.shadow.state_dict() if self.ema else None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler": self.stepper.scaler.state_dict() if self.stepper.scaler else None,
            "rng": rng_state(self.device),
            "rng_ranks": distributed.gather_objects(rng_state(self.device), self.dist) if self.dist.enabled else None,
            **self.family.state_dict(),
            "data": self.family.spec.to_state(),
            **({"ada": self.ada.state_dict()} if self.ada else {}),
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
        self.family.load_state_dict(state)
        if self.ada is not None:
            self.ada.load_state_dict(state["ada"])
        self.progress.load_state_dict(state)
        ranks = state.get("rng_ranks")
        set_rng_state(ranks[self.rank] if ranks and len(ranks) == self.world_size else state["rng"], self.device)

    # ------------------------------------------------------------------
    def read_images(self, idx: torch.Tensor) -> torch.Tensor:
        """A streamed pack's images at indices ``idx`` (of the ``data.xflip``-doubled range), uint8 on the CPU:
        what the reader thread does (pinned for a non-blocking copy to CUDA)."""
        base, _ = split_flips(idx, len(self.data))
        images = self.reader.read(base)
        return images.pin_memory() if self.device.type == "cuda" else images

    def batch(self, idx: torch.Tensor, images: torch.Tensor | None = None) -> Batch:
        """The real data at indices ``idx`` as the family takes it, on the device (``images``: those already read
        from a streamed pack)."""
        base, flipped = split_flips(idx, len(self.data))
        if self.reader is None:
            base = base.to(self.device, non_blocking=True)
            x = self.x[base]
        else:
            x = (images if images is not None else self.read_images(idx)).to(self.device, non_blocking=True)
        real = mirror(normalize(x) if x.dtype == torch.uint8 else x, flipped)
        if self.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        source = None
        if self.source is not None:
            source = mirror(normalize(self.source[base.to(self.source.device)]), flipped)
            if self.channels_last:
                source = source.contiguous(memory_format=torch.channels_last)
        return Batch(real, self.y[base.to(self.y.device)] if self.y is not None else None, source)

    def train_step(self, chunk: list[torch.Tensor], step: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Step ``step`` (default ``self.step``) on the index batches in ``chunk`` (``schedule.batches_for(step)``
        of them): (d_loss, g_loss). The schedule (train/schedule.py) says which updates it takes, in which order.
        A streamed pack's images come from the reader thread (``self.feed``), which has read them ahead."""
        feed = self.feed
        batches = [self.batch(idx, feed.get() if feed is not None else None) for idx in chunk]
        with agreed(self.dist.enabled):  # under torchrun every rank computes each convolution in rank 0's form
            return self.stepper.step(self.step if step is None else step, batches)

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

    # -- what the run shows ------------------------------------------------
    def sampling_G(self) -> nn.Module:
        """The generator samples are drawn from: the EMA average when the run keeps one."""
        return self.ema.shadow if self.ema else self.G

    def sample_fixed(self) -> torch.Tensor:
        return self.family.generate(self.sampling_G(), self.family.fixed, self.device)

    def _save_samples(self, epoch_label: int) -> None:
        if self.is_main:
            save_image_grid(self.family.grid_images(self.sample_fixed(), self.family.fixed), self.run.sample_grid(epoch_label),
                            nrow=self.family.grid_columns(self.family.fixed), reference=self.modes)
            for fig in self.family.epoch_figures(self.sampling_G(), self.device):
                save_image_grid(fig.images, self.run.sample_grid(epoch_label, fig.key), nrow=fig.columns)

    def _evaluate(self) -> None:
        """Score samples (train.eval_every), log them, and keep the best-FID checkpoint as best.pt."""
        seed = self.cfg.train.seed + 777  # its own draws: a run with evaluation trains exactly like one without
        record = self.evaluator(lambda n: self.family.eval_samples(self.sampling_G(), n, seed, self.device),
                                self.D, self.run, self.step, self.epoch, codes=self.family.eval_codes)
        if record.get("best"):
            state = self.state_dict()
            state["best"] = {"fid": record["fid"], "step": self.step, "epoch": self.epoch}
            write_checkpoint(state, self.run.best)

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
            write_text(self.run.config, self.cfg.to_yaml())
            if self.init is not None:
                self.run.log([{"event": "init_from", "step": 0, "epoch": 0, "from": self.init["path"],
                               "from_step": self.init["step"], "from_epoch": self.init["epoch"], "frozen_d": self.frozen_d}])
            reals = self.data.x[:64 if self.modes is None else self.cfg.train.num_samples].cpu()
            save_image_grid(normalize(reals) if reals.dtype == torch.uint8 else reals, self.run.reals,
                            reference=self.modes)
        else:
            source = Path(self.resume_state["path"]).name if self.resume_state.get("path") else "config.yaml"
            self.run.log([{"event": "resume", "step": self.step, "epoch": self.epoch, "from": source}])
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
        adjustments = self.ada.take_records() if self.ada else []  # ADA's p and r_t, read back once per interval
        bad = [r for r in records if not (math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]))]
        if bad:
            self.run.log(records[:records.index(bad[0])]) if self.is_main else None
            self._nonfinite(f"losses became non-finite at step {bad[0]['step']} (D {bad[0]['d_loss']:.4g}, G {bad[0]['g_loss']:.4g})",
                            bad[0]["step"])
        last = records[-1]
        if self.is_main:
            self.run.log(records + adjustments)
            if self.tb is not None:
                self.tb.losses(records)
            if bar is not None:
                ada = {"p": f"{self.ada.p:.3f}"} if self.ada else {}
                bar.set_postfix(D=f"{last['d_loss']:.3f}", G=f"{last['g_loss']:.3f}", img_s=f"{img_per_s:.0f}", **ada,
                                refresh=False)
        return last

    def _nonfinite(self, what: str, step: int) -> None:
        """Stop without writing a checkpoint, so the newest one on disk is the last good state."""
        kept = self.run.list_checkpoints()
        keep = f"the last good checkpoint {kept[-1]} is kept" if kept else "no checkpoint had been written yet"
        if self.is_main:
            self.run.log([{"event": "stopped", "step": step, "reason": what}])
        raise GanforgeError(f"{what}; training stopped and {keep}; lower the learning rates or change the loss")

    def _set_learning_rates(self, epoch: int) -> None:
        """``train.lr_decay``: over the last ``lr_decay`` share of ``train.epochs`` both learning rates fall
        linearly, epoch by epoch, to 1 / (decay epochs + 1) of their value in the last one (CycleGAN's schedule:
        100 epochs at 2e-4, then 100 falling). A function of the epoch alone, so a resumed run sets the same."""
        t = self.cfg.train
        if t.lr_decay is None:
            return
        decay_epochs = max(1, round(t.lr_decay * t.epochs))
        start = t.epochs - decay_epochs
        factor = 1.0 - max(0, epoch - start + 1) / (decay_epochs + 1)
        for opt, base in ((self.opt_g, self.cfg.g_optim.lr), (self.opt_d, self.cfg.d_optim.lr)):
            for group in opt.param_groups:
                group["lr"] = base * factor

    def epoch_batches(self, epoch: int) -> list[torch.Tensor]:
        """This rank's index batches of epoch ``epoch`` (0-based)."""
        t, d = self.cfg.train, self.cfg.data
        n = len(self.data) * (2 if d.xflip else 1)  # data.xflip: n + i is image i mirrored
        return epoch_batches(n, t.batch_size, t.seed, epoch, d.drop_last, self.rank, self.world_size, d.shuffle)

    def fit(self) -> Path:
        with GracefulStop() as self.stop:  # SIGINT/SIGTERM: finish the step, checkpoint, exit non-zero
            try:
                return self._fit()
            finally:
                if self.feed is not None:  # stopped by an error in the middle of an epoch
                    self.feed.close()
                    self.feed = None

    def _fit(self) -> Path:
        cfg, t, p = self.cfg, self.cfg.train, self.progress
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
            batches = self.epoch_batches(self.epoch)
            self._set_learning_rates(self.epoch)
            self.family.begin_epoch(self.epoch)
            per_step = t.n_critic
            bar = tqdm(total=len(batches) // per_step, initial=p.batch_in_epoch // per_step,
                       desc=f"epoch {self.epoch + 1}" + (f"/{t.epochs}" if t.steps is None else ""),
                       disable=not (t.progress and self.is_main), leave=False, file=sys.stderr,
                       mininterval=0.5 if sys.stderr.isatty() else 15, unit="step", dynamic_ncols=True,
                       delay=0 if sys.stderr.isatty() else 15)  # in a log file: nothing for an epoch under 15 s
            t0, images = time.perf_counter(), 0
            before_s, before_images = p.epoch_seconds, p.epoch_images  # a resumed epoch's earlier part
            self.feed = Prefetcher(self.read_images, batches[p.batch_in_epoch:]) if self.reader is not None else None
            while not self._done():
                need = self.schedule.batches_for(self.step)
                if p.batch_in_epoch + need > len(batches):
                    break
                chunk = batches[p.batch_in_epoch:p.batch_in_epoch + need]
                p.batch_in_epoch += need
                d_loss, g_loss = self.train_step(chunk)
                images += sum(len(i) for i in chunk) * self.world_size
                p.epoch_seconds, p.epoch_images = before_s + time.perf_counter() - t0, before_images + images
                p.step += 1
                pending.append((p.step, p.epoch + 1, d_loss, g_loss))
                if len(pending) >= t.log_every:
                    last = self._flush(pending, bar, images / (time.perf_counter() - t0))
                bar.update(1)
                self._agree_on_stopping()
                if self.stop.requested:
                    break
            bar.close()
            if self.feed is not None:
                self.feed.close()
                self.feed = None
            last = self._flush(pending, bar) or last
            seconds, images = p.epoch_seconds, p.epoch_images
            epoch_complete = p.batch_in_epoch + self.schedule.batches_for(self.step) > len(batches)
            if not epoch_complete:
                break  # stopped by train.steps or train.minutes in the middle of an epoch
            # -- end of epoch: samples, timing, checkpoint, evaluation -----
            p.end_epoch()
            self._save_samples(self.epoch)
            if self.is_main:
                ips = images / max(seconds, 1e-9)
                self.run.log([{"event": "epoch", "epoch": self.epoch, "step": self.step,
                               "seconds": round(seconds, 3), "img_per_s": round(ips, 1)}])
                losses = f"  D {last['d_loss']:.3f}  G {last['g_loss']:.3f}" if last else ""
                losses += f"  ADA p {self.ada.p:.3f}" if self.ada else ""
                total = f"/{t.epochs}" if t.steps is None else ""
                print(f"epoch {self.epoch}{total}: {seconds:.1f} s, {ips:.0f} img/s, step {self.step}{losses}", flush=True)
            if self.epoch % t.checkpoint_every == 0 or self._done():
                self._checkpoint()
                saved_at = self.step
            if self.is_main and self.evaluator.due(self.epoch):
                self._evaluate()
            if self.tb is not None:
                self.tb.epoch(self.epoch, self.step, self.run.sample_grid(self.epoch))
            self._agree_on_stopping()
            if self.stop.requested:
                break
        if self.stop.requested and not self._done():
            if saved_at != self.step:
                self._checkpoint()
            self.stop.exit(self.run_dir, self.step)

        # -- end of training: last grid, checkpoint, GIF, loss curves --------
        if p.batch_in_epoch:
            self._save_samples(self.epoch + 1)  # the partial epoch that train.steps stopped in
        if saved_at != self.step:
            self._checkpoint()
        if self.is_main:
            self._finish_artifacts()
        return self.run_dir

    def _finish_artifacts(self) -> None:
        save_gif(self.run.sample_grids(), self.run.gif)
        plot_losses(self.run.records(), self.run.losses)
        if self.ada is not None:
            plot_augment(self.run.records(), self.run.augment, self.cfg.train.ada_target)
        write_report(self.run_dir, device=str(self.device))
        if self.tb is not None:
            self.tb.close()
        print(f"done: {self.step} steps, {self.epoch} epochs; run directory {self.run_dir}", flush=True)
