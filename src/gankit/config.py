"""Typed run configuration: dataclass defaults, TOML overlays, ``--set`` overrides.

A run is described by one :class:`RunConfig`. Presets are small TOML files that change a
few fields; ``--set section.key=value`` changes one more. Reading is strict: an unknown
key raises an error naming the nearest valid key, a wrong type or an out-of-range value
raises an error naming the key and what is allowed. Components (objective, nets,
stabilizers, data set) carry their own dataclass of options, validated the same way once
their name is known; in TOML they sit in the same table as the name::

    [objective]
    name = "wgan"
    clip = 0.01

This module reads and writes configs; it knows no component. :func:`read_config` keeps
the component options as written; :func:`gankit.components.load_config` resolves them
against each component's options (every default filled in) before anything is built.
The config classes are frozen: nothing changes a config once it is loaded.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import sys
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import ConfigError
from .preset_files import find_config


def opt(default: Any, help: str = "", *, min: Any = None, max: Any = None,
        choices: Optional[Tuple] = None, min_exclusive: bool = False):
    """A dataclass field with a help line and an allowed range or set of values."""
    meta = {"help": help, "min": min, "max": max, "choices": choices,
            "min_exclusive": min_exclusive}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


# ----------------------------------------------------------------------------- sections
@dataclass(frozen=True)
class DataConfig:
    name: str = opt("ring", "data set name (see `gankit list`)")
    batch_size: int = opt(256, "minibatch size m (real and generated)", min=1)
    options: Dict[str, Any] = opt({}, "options of the chosen data set")


@dataclass(frozen=True)
class NetConfig:
    net: str = opt("mlp", "network name (see `gankit list`)")
    options: Dict[str, Any] = opt({}, "options of the chosen network")


@dataclass(frozen=True)
class ObjectiveConfig:
    name: str = opt("nonsaturating", "the GAN game (see `gankit list`)")
    options: Dict[str, Any] = opt({}, "options of the chosen objective")


@dataclass(frozen=True)
class OptimConfig:
    name: str = opt("adam", "optimizer", choices=("adam", "rmsprop", "sgd"))
    lr: float = opt(1e-3, "learning rate (1e-3 suits the 2D toys; image presets use 2e-4)",
                    min=0.0, min_exclusive=True)
    beta1: float = opt(0.5, "Adam beta1 (Radford et al. use 0.5)", min=0.0, max=1.0)
    beta2: float = opt(0.999, "Adam beta2", min=0.0, max=1.0)
    momentum: float = opt(0.0, "SGD / RMSProp momentum", min=0.0, max=1.0)
    weight_decay: float = opt(0.0, "L2 weight decay", min=0.0)
    fused: bool = opt(True, "Adam: torch's fused implementation, one kernel per parameter "
                      "(same algorithm, different rounding; ~10% faster steps on the toys); "
                      "false = torch's default for-loop Adam")
    lr_decay: str = opt("none", "learning-rate schedule: none; linear decay to 0 over "
                        "the last decay_fraction of train.steps; or cosine, half a cosine "
                        "from lr to lr_final over decay_steps (R3GAN)",
                        choices=("none", "linear", "cosine"))
    decay_fraction: float = opt(0.5, "fraction of train.steps over which lr_decay = "
                                "'linear' takes the rate to 0", min=0.0, max=1.0,
                                min_exclusive=True)
    lr_final: float = opt(0.0, "lr_decay = 'cosine': the learning rate at the end of the "
                          "cosine, kept after it (R3GAN: 5e-5 from 2e-4)", min=0.0)
    decay_steps: int = opt(0, "lr_decay = 'cosine': generator steps of the cosine "
                           "(0 = train.steps)", min=0)
    beta2_final: Optional[float] = opt(None, "Adam, lr_decay = 'cosine': beta2 at the end "
                                       "of the same cosine (R3GAN: 0.99 from 0.9); unset = "
                                       "beta2 stays constant", min=0.0, max=1.0)


@dataclass(frozen=True)
class TrainConfig:
    steps: int = opt(4000, "generator steps (iterations of Algorithm 1)", min=1)
    d_steps: int = opt(1, "k: discriminator steps per generator step", min=1)
    log_every: int = opt(50, "steps between log lines / metrics.jsonl rows", min=1)
    eval_every: int = opt(500, "steps between evaluations (0 = only at the end)", min=0)
    ckpt_every: int = opt(1000, "steps between checkpoints (0 = only at the end)", min=0)
    keep_ckpts: int = opt(3, "checkpoints kept on disk", min=1)
    g_ema: float = opt(0.0, "decay beta of an exponential moving average of G's weights, "
                       "sampled for evaluation and grids (0 = off; e.g. 0.999); for the "
                       "first updates the decay is capped at (1 + n) / (10 + n) after n "
                       "updates, below 0.999 until n = 8,990",
                       min=0.0, max=0.999999)
    deterministic: bool = opt(True, "use deterministic torch algorithms")
    on_divergence: str = opt("stop", "on a NaN/inf loss: stop, or roll back to the last "
                             "good checkpoint with lower learning rates",
                             choices=("stop", "rollback"))
    rollback_lr_factor: float = opt(0.5, "learning-rate factor applied at each rollback",
                                    min=0.0, max=1.0, min_exclusive=True)
    max_rollbacks: int = opt(3, "rollbacks allowed before the run stops", min=0)
    precision: str = opt("fp32", "fp32 | bf16 (autocast) | fp16 (autocast + loss "
                         "scaling, CUDA only)", choices=("fp32", "bf16", "fp16"))
    sync_batchnorm: bool = opt(False, "with several CUDA ranks, batch norm over the global "
                               "batch (SyncBatchNorm)")
    compile: bool = opt(False, "torch.compile G's and D's forward passes (falls back to "
                        "eager with a warning if compilation fails)")
    tensorboard: bool = opt(True, "also write TensorBoard event files")
    threads: int = opt(0, "CPU threads for torch (0 = PyTorch's default); 1 is fastest for "
                       "small nets on a busy machine", min=0, max=1024)


@dataclass(frozen=True)
class EvalConfig:
    n_samples: int = opt(2500, "samples for evaluation (PacGAN/VEEGAN protocol: 2500)",
                         min=2)
    metrics: List[str] = opt([], "metrics to compute; empty = the data set's default")


@dataclass(frozen=True)
class StabilizerConfig:
    name: str = opt("", "stabilizer name (see `gankit list`)")
    options: Dict[str, Any] = opt({}, "options of the chosen stabilizer")


@dataclass(frozen=True)
class RunConfig:
    name: str = opt("", "run name; empty = '<dataset>-<objective>'")
    seed: int = opt(0, "seed that fixes the whole run", min=0)
    device: str = opt("auto", "auto | cpu | cuda | cuda:N")
    out_dir: str = opt("runs", "parent folder of run directories")
    data: DataConfig = field(default_factory=DataConfig)
    generator: NetConfig = field(default_factory=NetConfig)
    discriminator: NetConfig = field(default_factory=NetConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    g_optim: OptimConfig = field(default_factory=OptimConfig)
    d_optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    stabilizers: List[StabilizerConfig] = field(default_factory=list)

    def run_name(self) -> str:
        return self.name or f"{self.data.name}-{self.objective.name}"


# Sections whose extra keys belong to a component chosen by name (key holding the name).
_COMPONENT_KEY = {DataConfig: "name", NetConfig: "net", ObjectiveConfig: "name",
                  StabilizerConfig: "name"}


def _changed(section: Any, key: str) -> bool:
    """Whether ``section.key`` differs from the field's default (was set by the user)."""
    return getattr(section, key) != type(section).__dataclass_fields__[key].default


def check_optim(o: OptimConfig, where: str) -> None:
    """Refuse schedule options the chosen schedule would ignore, and beta2_final where
    there is no Adam beta2 to schedule."""
    if o.beta2_final is not None and o.name != "adam":
        raise ConfigError(f"{where}beta2_final = {o.beta2_final!r}: only Adam has a beta2, "
                          f"and {where}name = {o.name!r}")
    if o.beta2_final is not None and o.beta2_final >= 1.0:
        raise ConfigError(f"{where}beta2_final = {o.beta2_final!r} is out of range; Adam "
                          "needs beta2 < 1")
    if o.lr_decay == "cosine" and _changed(o, "decay_fraction"):
        raise ConfigError(f"{where}decay_fraction = {o.decay_fraction!r} belongs to "
                          f"lr_decay = 'linear'; the cosine runs over {where}decay_steps "
                          "generator steps from step 0 (0 = train.steps): set decay_steps "
                          "and remove decay_fraction")
    if o.lr_decay == "cosine":
        return
    for key in ("lr_final", "decay_steps", "beta2_final"):
        if _changed(o, key):
            raise ConfigError(f"{where}{key} = {getattr(o, key)!r} is read only by lr_decay "
                              f"= 'cosine', and {where}lr_decay = {o.lr_decay!r}; set "
                              f"lr_decay = 'cosine' or remove {key}" + (
                                  " (a cosine of beta2 alone: lr_decay = 'cosine' with "
                                  "lr_final = lr)" if key == "beta2_final" else ""))


# Cross-field checks of a section, run once it is built (with the section's prefix).
_SECTION_CHECK = {OptimConfig: check_optim}


# ----------------------------------------------------------------------------- checking
def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Return ``value`` as type ``tp`` or raise ConfigError naming ``where``."""
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if value is None else coerce(value, args[0], where)
    if origin in (list, List):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(tp) or (Any,)
        return [coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin in (tuple, Tuple):
        return tuple(coerce(v, a, where) for v, a in zip(value, typing.get_args(tp)))
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(float(value)):
                raise ConfigError(f"{where}: expected a finite number, got {value!r}")
            return float(value)
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    raise ConfigError(f"{where}: unsupported type {_type_name(tp)}")


def check_range(value: Any, meta: dict, where: str) -> None:
    lo, hi, choices = meta.get("min"), meta.get("max"), meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{where}: {value!r} is not allowed; choose one of "
                          f"{', '.join(map(repr, choices))}")
    if value is None or isinstance(value, (str, bool, list, dict)):
        return
    if lo is not None and (value < lo or (meta.get("min_exclusive") and value == lo)):
        op = ">" if meta.get("min_exclusive") else ">="
        raise ConfigError(f"{where}: {value!r} is out of range; it must be {op} {lo}")
    if hi is not None and value > hi:
        raise ConfigError(f"{where}: {value!r} is out of range; it must be <= {hi}")


def unknown_key(key: str, valid: List[str], where: str) -> ConfigError:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"unknown key {where + key!r}{hint} (valid: {', '.join(valid)})")


def from_dict(cls: type, data: Dict[str, Any], where: str = "") -> Any:
    """Build dataclass ``cls`` from a plain dict, strictly (see module docstring)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where.rstrip('.') or 'config'}: expected a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    by_name = {f.name: f for f in fields(cls)}
    comp_key = _COMPONENT_KEY.get(cls)
    kwargs: Dict[str, Any] = {}
    extra: Dict[str, Any] = {}
    for key, value in data.items():
        if key not in by_name or (comp_key and key == "options"):
            if comp_key:
                extra[key] = value
                continue
            raise unknown_key(key, list(by_name), where)
        kwargs[key] = _field_value(hints[key], by_name[key], value, f"{where}{key}")
    if comp_key:
        kwargs["options"] = extra
    out = cls(**kwargs)
    if cls in _SECTION_CHECK:
        _SECTION_CHECK[cls](out, where)
    return out


def _field_value(tp: Any, f: dataclasses.Field, value: Any, where: str) -> Any:
    if is_dataclass(tp):
        return from_dict(tp, value, where + ".")
    if typing.get_origin(tp) in (list, List):
        (item,) = typing.get_args(tp)
        if is_dataclass(item):
            if not isinstance(value, list):
                raise ConfigError(f"{where}: expected a list of tables, got {value!r}")
            return [from_dict(item, v, f"{where}[{i}].") for i, v in enumerate(value)]
    out = coerce(value, tp, where)
    check_range(out, dict(f.metadata), where)
    return out


def component_name(section: Any) -> str:
    """The registered name a component section (DataConfig, NetConfig...) chooses."""
    return getattr(section, _COMPONENT_KEY[type(section)])


# ----------------------------------------------------------------------------- TOML io
def load_toml(path: str | Path) -> Dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from exc


# Raw sections whose table belongs to a component, and the key naming the component.
_RAW_COMPONENT_KEY = {"data": "name", "generator": "net", "discriminator": "net",
                      "objective": "name"}


def load_config_file(path: str | Path, _chain: Tuple[Path, ...] = ()) -> Dict[str, Any]:
    """The raw config of the TOML file ``path`` with its ``base`` resolved.

    ``base = "other"`` at the top of a file makes it a variant of another config: the
    file beside it of that name (``"ns_r1_ema_digits.toml"``, ``"../wgan.toml"``), else
    the shipped preset of that name. The base is read first (with its own base, and so
    on); this file's tables then overlay it key by key, except that a component table
    choosing another component (``[objective] name``, ``[generator] net``...) replaces
    the base's table whole (the base's options belong to the base's component), and a
    list (``[[stabilizers]]``) replaces the base's list whole. The run ``name`` is the
    file's own and is not inherited.
    """
    path = Path(path)
    raw = load_toml(path)
    base = raw.pop("base", None)
    if base is None:
        return raw
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{str(path)!r}: base must be a config file or preset name, "
                          f"got {base!r}")
    beside = path.parent / (base if base.endswith(".toml") else base + ".toml")
    try:
        base_path = (beside if beside.is_file() else find_config(base)).resolve()
    except ConfigError as exc:
        raise ConfigError(f"{str(path)!r}: base {base!r}: {exc}") from None
    chain = _chain + (path.resolve(),)
    if base_path in chain:
        loop = " -> ".join(str(p) for p in chain + (base_path,))
        raise ConfigError(f"{str(path)!r}: base {base!r} makes a loop: {loop}")
    inherited = load_config_file(base_path, chain)
    inherited.pop("name", None)
    for section, key in _RAW_COMPONENT_KEY.items():
        mine, theirs = raw.get(section), inherited.get(section)
        if isinstance(mine, dict) and isinstance(theirs, dict) and key in mine \
                and mine[key] != theirs.get(key):
            inherited.pop(section)
    return deep_merge(inherited, raw)


def deep_merge(base: Dict[str, Any], over: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_value(text: str) -> Any:
    """Parse the right-hand side of ``--set key=value`` as a TOML value, else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_set(raw: Dict[str, Any], assignment: str) -> Dict[str, Any]:
    """Apply one ``section.key=value`` override to a raw config dict."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected section.key=value")
    dotted, text = assignment.split("=", 1)
    keys = [k.strip() for k in dotted.strip().split(".")]
    if not all(keys):
        raise ConfigError(f"--set {assignment!r}: empty key")
    node: Any = raw
    for key in keys[:-1]:
        node = _list_item(node, key, assignment) if isinstance(node, list) \
            else node.setdefault(key, {})
        if not isinstance(node, (dict, list)):
            raise ConfigError(f"--set {assignment!r}: {key!r} is not a table")
    if isinstance(node, list):
        raise ConfigError(f"--set {assignment!r}: {keys[-2]!r} is a list of tables; name "
                          f"one and its key, e.g. {keys[-2]}.0.{keys[-1]}=...")
    node[keys[-1]] = parse_value(text.strip())
    return raw


def _list_item(items: List[Any], key: str, assignment: str) -> Dict[str, Any]:
    """The table of a list of tables (``[[stabilizers]]``) that ``key`` names: its index
    (``stabilizers.0.gamma``) or its ``name`` when that is unique (``stabilizers.r1.gamma``)."""
    names = [item.get("name") if isinstance(item, dict) else None for item in items]
    if key.isdigit() and int(key) < len(items):
        return items[int(key)]
    if names.count(key) == 1:
        return items[names.index(key)]
    valid = ", ".join([str(i) for i in range(len(items))]
                      + [n for n in names if n is not None and names.count(n) == 1])
    raise ConfigError(f"--set {assignment!r}: no entry {key!r} in that list; valid: "
                      f"{valid or 'none (the list is empty)'}")


def read_config(path: Optional[str | Path] = None, sets: Optional[List[str]] = None
                ) -> RunConfig:
    """Defaults, then the TOML file at ``path`` (a file, or a shipped preset's name:
    :func:`gankit.preset_files.find_config`; its ``base`` first, :func:`load_config_file`),
    then each ``--set`` override; component options as written
    (:func:`gankit.components.load_config` resolves them)."""
    raw: Dict[str, Any] = load_config_file(find_config(path)) if path else {}
    for assignment in sets or []:
        raw = apply_set(raw, assignment)
    return from_dict(RunConfig, raw)


def to_dict(cfg: Any) -> Any:
    """Dataclass -> plain dict with the component options folded back in (TOML shape)."""
    if is_dataclass(cfg):
        out: Dict[str, Any] = {}
        for f in fields(cfg):
            value = to_dict(getattr(cfg, f.name))
            if f.name == "options" and type(cfg) in _COMPONENT_KEY:
                out.update(value)
            else:
                out[f.name] = value
        return out
    if isinstance(cfg, (list, tuple)):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, dict):
        return {k: to_dict(v) for k, v in cfg.items()}
    return cfg


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise ConfigError(f"cannot write {value!r} to TOML")


def dumps_toml(data: Dict[str, Any]) -> str:
    """Write a config dict as TOML (scalars first, then tables, then arrays of tables).
    TOML has no null: a key whose value is None (an unset optional field) is left out,
    and reading the file back gives it its default, None, again."""
    data = {k: v for k, v in data.items() if v is not None}
    lines: List[str] = []
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    arrays = {k: v for k, v in data.items()
              if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)}
    for key, value in data.items():
        if key not in tables and key not in arrays:
            lines.append(f"{key} = {_toml_value(value)}")
    for key, table in tables.items():
        lines += ["", f"[{key}]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items()
                                     if v is not None]
    for key, items in arrays.items():
        for item in items:
            lines += ["", f"[[{key}]]"] + [f"{k} = {_toml_value(v)}" for k, v in item.items()
                                           if v is not None]
    return "\n".join(lines) + "\n"


def save_config(cfg: RunConfig, path: str | Path) -> None:
    Path(path).write_text(dumps_toml(to_dict(cfg)))
