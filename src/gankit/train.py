"""The alternating training loop: Algorithm 1 of Goodfellow et al. (2014).

For each generator step the discriminator takes k steps (``train.d_steps``, or what the
objective schedules, e.g. WGAN's 100 critic steps early on). Every random draw comes from
a generator whose state is checkpointed, so a seed fixes a run and ``--resume`` continues
it exactly. Techniques plug in through the objective and the stabilizers' hooks; the loop
never branches on them.
"""
from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
from torch import nn

from . import (
    metrics,  # noqa: F401  (registers the metrics)
    seeds,
)
from .accel import Precision, compiled
from .checkpoint import CheckpointManager
from .components import resolve_config
from .config import OptimConfig, RunConfig
from .data import build_dataset
from .distributed import World, device_for
from .ema import GeneratorEMA
from .errors import CheckpointError, ConfigError, DivergenceError
from .evalmode import eval_mode
from .grids import GRID_SIZE
from .metrics.conditional import ClassConditionalMetric
from .metrics.training import Evaluator
from .nets import build_net
from .nets.conditional import BoundD, classes_of, requested_classes
from .nets.layers import sample_noise
from .nets.sampling import class_rows, generate
from .objectives import build_objective
from .plugins import SetupContext, component_options
from .registry import NETS
from .rundir import RunDir
from .schedules import cosine
from .stabilizers import build_stabilizers


def make_optimizer(params, cfg: OptimConfig) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba), RMSProp (the WGAN paper's choice) or SGD, from the config."""
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
                                weight_decay=cfg.weight_decay, fused=cfg.fused or None)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, momentum=cfg.momentum,
                                   weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                           weight_decay=cfg.weight_decay)


def lr_factor(cfg: OptimConfig, step: int, total: int) -> float:
    """Multiplier of the base learning rate at generator step ``step`` of ``total``:
    1 throughout for ``lr_decay = "none"``; for ``"linear"``, 1 until the last
    ``decay_fraction`` of the run, then falling linearly to 0 at ``total``; for
    ``"cosine"``, half a cosine from 1 to ``lr_final / lr`` over ``decay_steps`` (0 = the
    whole run) and constant after it: R3GAN's learning-rate schedule (Huang et al. 2024,
    :mod:`gankit.schedules`). A factor, so a rollback's lower base rate lowers the whole
    curve, lr_final included."""
    if cfg.lr_decay == "none":
        return 1.0
    if cfg.lr_decay == "cosine":
        return cosine(1.0, cfg.lr_final / cfg.lr, step, cfg.decay_steps or total)
    span = cfg.decay_fraction * total
    return min(1.0, max(0.0, (total - step) / span))


def beta2_at(cfg: OptimConfig, step: int, total: int) -> Optional[float]:
    """Adam's beta2 at generator step ``step`` of ``total`` when it is scheduled
    (``beta2_final`` set): the learning rate's cosine from ``beta2`` to ``beta2_final``
    (R3GAN raises it 0.9 -> 0.99); None when beta2 stays as the optimizer was built."""
    if cfg.beta2_final is None:
        return None
    return cosine(cfg.beta2, cfg.beta2_final, step, cfg.decay_steps or total)


class Trainer:
    """Holds G, D, their optimizers, the objective, the stabilizers and all RNG state.

    Built from a resolved config (:func:`gankit.components.load_config`), which it reads
    and never changes; the objective and the stabilizers get a
    :class:`~gankit.plugins.SetupContext`, not the trainer."""

    def __init__(self, cfg: RunConfig, device: Optional[str] = None):
        self.cfg = cfg
        self.device = device_for(device or cfg.device, int(os.environ.get("LOCAL_RANK", 0)))
        self.world = World.from_env(self.device)
        self.world.check_batch(cfg.data.batch_size)
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        if cfg.train.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.data = build_dataset(cfg.data, seeds.derived_seed(cfg.seed, seeds.DATA))
        #: K of a class-conditional run (both nets conditioned on the data's K classes), or 0
        self.num_classes = self._conditioning_classes()
        shape, k = self.data.shape, self.num_classes
        self.G = build_net("generator", cfg.generator, shape, k).to(self.device)
        self.D = build_net("discriminator", cfg.discriminator, shape, k).to(self.device)
        self.G = self.world.sync_batchnorm(self.G, cfg.train.sync_batchnorm, self.device)
        self.D = self.world.sync_batchnorm(self.D, cfg.train.sync_batchnorm, self.device)
        self.objective = build_objective(cfg.objective)
        self.stabilizers = build_stabilizers(cfg.stabilizers)
        self.g_opt = make_optimizer(self.G.parameters(), cfg.g_optim)
        self.d_opt = make_optimizer(self.D.parameters(), cfg.d_optim)
        for opt in (self.g_opt, self.d_opt):
            for group in opt.param_groups:  # saved with the optimizer, so resume keeps it
                group["base_lr"] = group["lr"]
        self._scheduled = any(c.lr_decay != "none" for c in (cfg.g_optim, cfg.d_optim))
        self.precision = Precision(cfg.train.precision, self.device)
        self.z_rng = torch.Generator().manual_seed(seeds.derived_seed(cfg.seed, seeds.Z))
        torch.manual_seed(seeds.derived_seed(cfg.seed, seeds.TORCH + self.world.rank))
        self.world.broadcast_params(self.G)
        self.world.broadcast_params(self.D)
        self._compile(cfg.train.compile)
        self._d_params = list(self.D.parameters())  # frozen during G's step
        self.step = 0
        self.objective.check(self.G, self.D)
        ctx = self._setup_context()
        self.objective.setup(ctx)
        for stab in self.stabilizers:
            stab.setup(ctx)
        self.g_ema = GeneratorEMA(self.G, cfg.train.g_ema)  # after setup: copies VBN refs
        self._hooks = {h: [s for s in self.stabilizers if s.overrides(h)]
                       for h in ("d_input", "penalty", "d_penalty", "after_step")}
        self.evaluator = Evaluator(self.metric_names(), self.data)
        self._check_conditioning()
        self._dry_run()

    def _conditioning_classes(self) -> int:
        """K when either net's config asks for class conditioning (``conditional``), else
        0; conditioning on a data set without labels is refused here, before anything
        is built (so before a run directory exists)."""
        asked = []
        for role, section in (("generator", self.cfg.generator),
                              ("discriminator", self.cfg.discriminator)):
            mode = getattr(component_options(NETS, section, role), "conditional", "none")
            if mode != "none":
                asked.append(f"{role}.conditional = {mode!r}")
        if asked and self.data.num_classes < 1:
            raise ConfigError(f"{asked[0]} asks for a class-conditional GAN, but data set "
                              f"{self.cfg.data.name!r} has no class labels; use a labelled "
                              "set (digits, mnist, mnist5k, cifar10, svhn, a folder of "
                              "class sub-folders, an npz with y; ring or grid: the mode "
                              "index is the class)")
        return self.data.num_classes if asked else 0

    def _check_conditioning(self) -> None:
        """Refuse a half-conditional run, a game that cannot be played class by class,
        an AC-GAN head no game trains, and per-class metrics of an unconditional run."""
        g, d = classes_of(self.G), classes_of(self.D)
        if bool(g) != bool(d):
            given, other = ("generator", "discriminator") if g else ("discriminator",
                                                                     "generator")
            raise ConfigError(f"{given}.conditional is set but the {other} is "
                              f"unconditional; set {other}.conditional too (generator: "
                              "input or cbn; discriminator: projection or acgan)")
        name = self.cfg.objective.name
        if g and not self.objective.class_conditional:
            raise ConfigError(f"objective {name!r} cannot be played class by class; a "
                              "class-conditional run takes nonsaturating, minimax, hinge, "
                              "wgan, wgan_gp, rpgan, preference or acgan")
        if getattr(self.D, "conditional", "none") == "acgan" and not (
                self.objective.trains_class_head):
            raise ConfigError(f"discriminator.conditional = 'acgan' adds a class head that "
                              f"objective {name!r} does not train; use objective.name = "
                              f"'acgan' with game = {name!r}")
        for metric in self.evaluator.metrics:
            if isinstance(metric, ClassConditionalMetric) and not g:
                raise ConfigError(f"metric {metric.name!r} scores the classes asked of a "
                                  "class-conditional generator, and this run is "
                                  "unconditional (set generator.conditional and "
                                  "discriminator.conditional)")

    def _setup_context(self) -> SetupContext:
        """All the objective's and the stabilizers' ``setup`` may read and set."""
        cfg = self.cfg
        objective = self.objective
        return SetupContext(
            G=self.G, D=self.D, objective_name=cfg.objective.name,
            d_options=component_options(NETS, cfg.discriminator, "discriminator"),
            set_label_targets=objective.set_targets if objective.uses_labels else None,
            seed=cfg.seed, batch_size=cfg.data.batch_size, device=self.device,
            real_examples=lambda n: self.data.sample(n).to(self.device),
            sample_z=self.sample_z, labelled=self.data)

    def _compile(self, enabled: bool) -> None:
        """The forward passes the loop calls: compiled when ``train.compile`` is on."""
        m = self.cfg.data.batch_size // self.world.size
        self.g_forward = compiled(self.G, enabled, torch.zeros(m, self.G.z_dim,
                                                               device=self.device))
        self.d_forward = compiled(self.D, enabled, torch.zeros(m, *self.data.shape,
                                                               device=self.device))

    def scale_lr(self, factor: float) -> None:
        """Scale both players' base learning rates (a rollback after divergence)."""
        for opt in (self.g_opt, self.d_opt):
            for group in opt.param_groups:
                group["base_lr"] *= factor
                group["lr"] *= factor

    def _apply_schedules(self) -> None:
        """Each player's lr: its base lr x its configured schedule x what the objective
        asks for (:meth:`~gankit.objectives.base.Objective.lr_scale`); and Adam's beta2
        where it is scheduled. Functions of the step alone, so a resume continues them."""
        scale = self.objective.lr_scale()
        if not self._scheduled and scale == 1.0:
            return
        total = self.cfg.train.steps
        for opt, cfg in ((self.g_opt, self.cfg.g_optim), (self.d_opt, self.cfg.d_optim)):
            factor = lr_factor(cfg, self.step, total) * scale
            beta2 = beta2_at(cfg, self.step, total)
            for group in opt.param_groups:
                group["lr"] = group["base_lr"] * factor
                if beta2 is not None:
                    group["betas"] = (group["betas"][0], beta2)

    # ------------------------------------------------------------------ pieces
    @torch.no_grad()
    def _dry_run(self) -> None:
        """One eval-mode forward pass of G and D on a zero batch of the run's size, so a
        net that cannot take the data or the batch (channels, packing degree...) is
        refused before a run directory exists. Draws no random numbers."""
        m = self.cfg.data.batch_size // self.world.size
        y = torch.zeros(m, dtype=torch.long, device=self.device) if self.num_classes else None
        with eval_mode(self.G, self.D):
            x = self._G(self.G, torch.zeros(m, self.G.z_dim, device=self.device), y)
            if tuple(x.shape[1:]) != tuple(self.data.shape):
                raise ValueError(f"the generator makes samples of shape {tuple(x.shape[1:])} "
                                 f"but data set {self.cfg.data.name!r} has shape "
                                 f"{tuple(self.data.shape)}; change the generator options")
            if y is None:
                self.D(x)
            else:
                self.D(x, y)

    def metric_names(self) -> List[str]:
        return list(self.cfg.eval.metrics or self.data.default_metrics)

    def sample_z(self, m: int) -> torch.Tensor:
        """This rank's share of a global batch of m noise vectors."""
        return self.world.shard(sample_noise(self.G.z_dist, m, self.G.z_dim, self.z_rng,
                                             self.device))

    def real_batch(self) -> torch.Tensor:
        """This rank's share of a global minibatch of real examples."""
        return self.world.shard(self.data.sample(self.cfg.data.batch_size)).to(self.device)

    def labelled_batch(self) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """This rank's share of a real minibatch, and in a class-conditional run its
        classes y (None otherwise), which the step's generated examples are asked for:
        the fakes of a step then have the reals' classes, position by position, which
        is what lets :class:`~gankit.nets.conditional.BoundD` serve every objective."""
        if not self.num_classes:
            return self.real_batch(), None
        x, y = self.data.sample_with_labels(self.cfg.data.batch_size)
        return self.world.shard(x).to(self.device), self.world.shard(y).to(self.device)

    @staticmethod
    def _G(G, z: torch.Tensor, y: Optional[torch.Tensor]) -> torch.Tensor:
        return G(z) if y is None else G(z, y)

    def fake_batch(self, y: Optional[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(G(z), z) for a fresh minibatch of z, asked for classes y in a conditional
        run."""
        z = self.sample_z(self.cfg.data.batch_size)
        return self._G(self.g_forward, z, y), z

    def d_view(self, x: torch.Tensor, y: Optional[torch.Tensor] = None):
        """D as the objective sees it: stabilizers' input transforms applied first."""
        for stab in self._hooks["d_input"]:
            x = stab.d_input(x, self.step)
        return self.d_forward(x) if y is None else self.d_forward(x, y)

    def d_for(self, y: Optional[torch.Tensor]):
        """The callable D(x) handed to the objective and the stabilizers this step: with
        the classes y bound by position in a conditional run."""
        return self.d_view if y is None else BoundD(self.d_view, y)

    def _update(self, role: str, net: nn.Module, opt: torch.optim.Optimizer,
                loss: torch.Tensor) -> None:
        for stab in self._hooks["penalty"]:
            term = stab.penalty(role, net)
            if term is not None:
                loss = loss + term
        opt.zero_grad(set_to_none=True)
        self.precision.step(role, loss, opt, lambda: self.world.average_grads(net))
        for stab in self._hooks["after_step"]:
            stab.after_step(role, net, self.step)

    # ------------------------------------------------------------------ Algorithm 1
    def d_step(self) -> Dict[str, torch.Tensor]:
        """One ascent step of D on V(D, G) for a fresh real and generated minibatch."""
        real, y = self.labelled_batch()
        with torch.no_grad(), self.precision.autocast():
            fake, z = self.fake_batch(y)
        D = self.d_for(y)
        with self.precision.autocast():
            if self.objective.d_needs_z:
                loss, logs = self.objective.d_loss(D, real, fake, z=z)
            else:
                loss, logs = self.objective.d_loss(D, real, fake)
            for stab in self._hooks["d_penalty"]:
                term = stab.d_penalty(D, real, fake)
                if term is not None:  # None: not due this step (lazy regularisation)
                    logs["d_penalty"] = term.detach()
                    loss = loss + term
        self._check_finite("discriminator", logs, loss)
        self._update("discriminator", self.D, self.d_opt, loss)
        self.objective.after_d_step(self.D)
        return logs

    def g_step(self) -> Dict[str, torch.Tensor]:
        """One descent step of G on its loss for a fresh noise minibatch (asked for the
        classes of a fresh real minibatch in a conditional run)."""
        real, y = self._g_batch()
        with self.precision.autocast():
            fake, _ = self.fake_batch(y)
        for p in self._d_params:
            p.requires_grad_(False)
        try:
            with self.precision.autocast():
                loss, logs = self.objective.g_loss(self.d_for(y), fake, real)
            self._check_finite("generator", logs, loss)
            self._update("generator", self.G, self.g_opt, loss)
        finally:
            for p in self._d_params:
                p.requires_grad_(True)
        return logs

    def _g_batch(self) -> tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        """(the real minibatch G's loss reads, or None; the classes for G's fakes)."""
        if self.num_classes:
            real, y = self.labelled_batch()
            return (real if self.objective.g_needs_real else None), y
        return (self.real_batch() if self.objective.g_needs_real else None), None

    def train_step(self) -> Dict[str, torch.Tensor]:
        logs: Dict[str, torch.Tensor] = {}
        self._apply_schedules()
        for _ in range(self.objective.d_steps(self.step, self.cfg.train.d_steps)):
            logs.update(self.d_step())
        logs.update(self.g_step())
        self.g_ema.update()
        self.objective.after_g_step(logs)
        self.step += 1
        return logs

    def _check_finite(self, net: str, logs: Dict[str, torch.Tensor],
                      loss: torch.Tensor) -> None:
        value = float(self.world.sum_scalar(loss.detach()))
        if not math.isfinite(value):
            raise DivergenceError(f"step {self.step}: the {net} loss is {value} "
                                  f"({', '.join(f'{k}={float(v):.4g}' for k, v in logs.items())})")

    def check_parameters(self) -> None:
        for name, net in (("generator", self.G), ("discriminator", self.D)):
            for pname, p in net.named_parameters():
                if not torch.isfinite(p).all():
                    raise DivergenceError(f"step {self.step}: {net.__class__.__name__} "
                                          f"({name}) parameter {pname!r} is not finite")

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def generate(self, n: int, seed: Optional[int] = None, batch: int = 4096) -> torch.Tensor:
        """``n`` samples from G in eval mode, from a noise stream separate from training;
        in a conditional run sample i is asked for class :meth:`sample_classes` [i]."""
        rng = torch.Generator().manual_seed(
            seeds.derived_seed(self.cfg.seed, seeds.SAMPLES) if seed is None else seed)
        # the EMA copy when train.g_ema > 0, else G itself
        return generate(self.g_ema.sampler, n, rng, self.device, batch,
                        classes=self.sample_classes(n))

    def sample_classes(self, n: int) -> Optional[torch.Tensor]:
        """The classes :meth:`generate` asks of its n samples (0, 1, ..., K-1, 0, ...),
        None in an unconditional run."""
        return requested_classes(n, self.num_classes) if self.num_classes else None

    @torch.no_grad()
    def sample_grid(self, seed: int) -> tuple[torch.Tensor, Optional[int]]:
        """The images of a sample grid and its number of columns (None: square): 64
        samples, or in a conditional run one row per class, each column one z."""
        if not self.num_classes:
            return self.generate(GRID_SIZE, seed), None
        cols = 8
        rng = torch.Generator().manual_seed(seed)
        return class_rows(self.g_ema.sampler, self.num_classes, cols, rng, self.device), cols

    def evaluate(self) -> tuple[Dict[str, Any], torch.Tensor]:
        samples = self.generate(self.cfg.eval.n_samples)
        return self.evaluator.evaluate(self, samples), samples

    # ------------------------------------------------------------------ state
    def state_dict(self) -> Dict[str, Any]:
        """Everything a bit-exact resume needs. With several ranks this is a collective
        call (every rank's torch RNG state is gathered), so call it on all ranks."""
        rng = {"torch": torch.get_rng_state(), "z": self.z_rng.get_state()}
        if self.world.size > 1:  # noise layers etc. draw from each rank's own stream
            rng["torch_ranks"] = torch.stack(self.world.gather_object(rng["torch"]))
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {"step": self.step, "G": self.G.state_dict(), "D": self.D.state_dict(),
                "g_opt": self.g_opt.state_dict(), "d_opt": self.d_opt.state_dict(),
                "precision": self.precision.state_dict(),
                "objective": self.objective.state_dict(), "data": self.data.state_dict(),
                "stabilizers": [s.state_dict() for s in self.stabilizers], "rng": rng,
                "G_ema": self.g_ema.state_dict(), "data_shape": list(self.data.shape),
                "num_classes": self.num_classes}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.G.load_state_dict(state["G"])
        self.g_ema.load_state_dict(state.get("G_ema", {}))
        self.D.load_state_dict(state["D"])
        self.g_opt.load_state_dict(state["g_opt"])
        self.d_opt.load_state_dict(state["d_opt"])
        for opt in (self.g_opt, self.d_opt):
            for group in opt.param_groups:  # checkpoints from before lr schedules
                group.setdefault("base_lr", group["lr"])
        self.precision.load_state_dict(state.get("precision", {}))
        self.objective.load_state_dict(state["objective"])
        self.data.load_state_dict(state["data"])
        for stab, s in zip(self.stabilizers, state["stabilizers"]):
            stab.load_state_dict(s)
        ranks = state["rng"].get("torch_ranks")
        if ranks is not None and len(ranks) == self.world.size:
            torch.set_rng_state(ranks[self.world.rank].clone())
        else:  # a single-rank checkpoint, or resumed on another number of ranks
            torch.set_rng_state(state["rng"]["torch"])
        self.z_rng.set_state(state["rng"]["z"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])

    @classmethod
    def from_run_dir(cls, run_dir: str | Path, sets: Optional[List[str]] = None,
                     device: Optional[str] = None) -> "Trainer":
        """Rebuild a run from its config and load its newest good checkpoint."""
        run = RunDir.open(run_dir)
        trainer = cls(resolve_config(run.config(sets)), device=device)
        ckpts = CheckpointManager(run.path)
        if not ckpts.list():  # killed before its first checkpoint: start it again
            warnings.warn(f"{run.path} has no checkpoint yet; starting it from step 0")
            return trainer
        path, state = ckpts.load_latest()
        try:
            trainer.load_state_dict(state)
        except (RuntimeError, KeyError, ValueError) as exc:  # e.g. an edited config.toml
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(f"checkpoint {path} does not fit the run's config.toml "
                                  f"({first}); was the config edited after the run "
                                  "started?") from None
        return trainer
