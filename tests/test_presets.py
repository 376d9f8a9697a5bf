"""Every objective preset in configs/ trains a few steps on the ring from the CLI."""
import json
import re
from pathlib import Path

import pytest

from conftest import tiny_sets
from gankit.cli import main
from gankit.components import load_config
from gankit.config import to_dict
from gankit.data import build_dataset

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

# preset -> (objective name, a value the preset sets, a key its training logs)
PRESETS = {
    "minimax": ("minimax", ("train", "d_steps", 1), "d_real"),
    "nonsaturating": ("nonsaturating", ("train", "d_steps", 1), "d_real"),
    "wgan": ("wgan", ("objective", "clip", 0.01), "em_estimate"),
    "wgan_gp": ("wgan_gp", ("objective", "lambda_gp", 10.0), "gp"),
    "began": ("began", ("objective", "gamma", 0.5), "M_global"),
    "feature_matching": ("feature_matching", ("discriminator", "feature_layer", -1),
                         "g_loss"),
    "preference": ("preference", ("objective", "name", "preference"), "d_pair_acc"),
    "fm_ls_ema": ("feature_matching", ("train", "g_ema", 0.999), "g_loss"),
    "ns_r1_ema": ("nonsaturating", ("train", "g_ema", 0.98), "d_real"),
    "sinkhorn": ("sinkhorn", ("objective", "eps", 0.05), "sinkhorn"),
}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_trains_on_the_ring_from_the_cli(tmp_path, preset):
    name, (section, key, want), log_key = PRESETS[preset]
    sets = tiny_sets(tmp_path, steps=4) + ["train.eval_every=0", "train.log_every=2",
                                           "data.batch_size=32", "eval.n_samples=200"]
    assert main(["train", str(CONFIGS / f"{preset}.toml")]
                + sum([["--set", s] for s in sets], [])) == 0
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert run.name.startswith(f"ring-{name}-")
    saved = load_config(run / "config.toml")
    assert saved.objective.name == name
    table = getattr(saved, section)
    value = getattr(table, key) if hasattr(table, key) else table.options[key]
    assert value == want
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert any(log_key in r for r in rows if r["kind"] == "train")
    assert any(r["kind"] == "eval" and "modes" in r for r in rows)


def test_preset_values_are_the_papers():
    wgan = load_config(CONFIGS / "wgan.toml")
    assert (wgan.d_optim.name, wgan.d_optim.lr, wgan.data.batch_size,
            wgan.train.d_steps) == ("rmsprop", 5e-5, 64, 5)
    gp = load_config(CONFIGS / "wgan_gp.toml")
    assert (gp.g_optim.name, gp.g_optim.lr, gp.g_optim.beta1, gp.g_optim.beta2,
            gp.train.d_steps) == ("adam", 1e-4, 0.0, 0.9, 5)  # Algorithm 1
    began = load_config(CONFIGS / "began.toml")
    assert began.objective.options == {"gamma": 0.5, "lambda_k": 0.001, "eta": 1, "k_0": 0.0,
                                       "k_min": 0.0, "k_max": 1.0, "k_hold": 0.0,
                                       "stall_window": 1000, "stall_tolerance": 0.01,
                                       "lr_decay_factor": 0.5, "latent_constraint": 0.0}
    assert began.discriminator.net == "began" and began.d_optim.lr == 1e-4


def test_fm_ls_ema_preset_combines_its_techniques():
    cfg = load_config(CONFIGS / "fm_ls_ema.toml")
    assert cfg.objective.name == "feature_matching"
    assert [(s.name, s.options) for s in cfg.stabilizers] == [("label_smoothing", {
        "alpha": 0.9, "beta": 0.0, "allow_fake_smoothing": False})]  # the last two: defaults
    assert (cfg.train.g_ema, cfg.train.steps) == (0.999, 8000)
    for o in (cfg.g_optim, cfg.d_optim):
        assert (o.lr, o.lr_decay, o.decay_fraction) == (5e-4, "linear", 0.5)


def test_ns_r1_ema_preset_is_the_benchmarked_setting():
    # BENCHMARKS.md's 10-seed ns_r1_ema rows were measured with exactly these values.
    cfg = load_config(CONFIGS / "ns_r1_ema.toml")
    assert cfg.objective.name == "nonsaturating"
    assert [(s.name, s.options) for s in cfg.stabilizers] == [
        ("r1", {"gamma": 0.1, "on": "real", "every": 4, "samples": 64,
                "gamma_final": 0.0, "gamma_steps": 0})]  # gamma_*: defaults
    assert (cfg.train.g_ema, cfg.train.steps, cfg.data.batch_size) == (0.98, 16000, 256)
    assert cfg.generator.options["z_dim"] == 2
    assert (cfg.generator.options["width"], cfg.discriminator.options["width"]) == (128, 128)
    for o in (cfg.g_optim, cfg.d_optim):
        assert (o.lr, o.beta1, o.beta2, o.lr_decay, o.decay_fraction) == (
            2e-3, 0.0, 0.99, "linear", 0.75)


def test_presets_travel_with_the_package(tmp_path, monkeypatch, capsys):
    from gankit.cli import main
    from gankit.preset_files import PRESETS, find_config, preset_files

    monkeypatch.chdir(tmp_path)  # not the repository: configs/ is not here
    assert find_config("wgan") == PRESETS / "wgan.toml" and (PRESETS / "wgan.toml").is_file()
    assert find_config("configs/wgan.toml") == PRESETS / "wgan.toml"
    assert {"wgan", "ns_r1_ema", "dcgan_digits"} <= set(preset_files())
    sets = [f"out_dir='{tmp_path}/runs'", "train.steps=2", "train.tensorboard=false"]
    assert main(["train", "wgan"] + [a for s in sets for a in ("--set", s)]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert 'name = "wgan"' in (run / "config.toml").read_text()
    assert main(["train", "wgn"]) == 2
    assert "did you mean 'wgan'?" in capsys.readouterr().err
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    assert "presets (gankit train NAME):" in listed and "ns_r1_ema" in listed
    assert "WGAN: Arjovsky, Chintala & Bottou (2017)" in listed
    rows = listed.split("presets (gankit train NAME):\n")[1].splitlines()
    starts = {re.match(r"  \S+ +", r).end() for r in rows}  # where each description starts
    assert len(starts) == 1  # every description in one column, past the longest name


TOY = sorted(p.stem for p in (CONFIGS / "toy").glob("*.toml"))


@pytest.mark.parametrize("preset", TOY)
def test_toy_preset_trains_on_both_toys_and_reports_the_width_of_its_modes(tmp_path, preset):
    for data in ("ring", "grid"):
        out = tmp_path / data
        sets = tiny_sets(out, steps=4) + [f"data.name={data}", "train.eval_every=0",
                                          "data.batch_size=32", "eval.n_samples=200"]
        assert main(["train", preset] + sum([["--set", s] for s in sets], [])) == 0
        (run,) = [p for p in out.iterdir() if p.is_dir()]
        rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
        (last,) = [r for r in rows if r["kind"] == "eval"][-1:]
        assert {"modes", "hq", "kl", "spread"} <= set(last)


# configs/toy/ tuned presets -> (objective, stabilizers, (optimizer, lr, lr_final)); the
# games with a constraint of their own take no R1. A new tuned toy preset must be listed.
ADAM = ("adam", 2e-3, 4e-4)
TOY_GAMES = {
    "ns_toy": ("nonsaturating", ["r1"], ADAM), "minimax_toy": ("minimax", ["r1"], ADAM),
    "hinge_toy": ("hinge", ["r1"], ("adam", 2e-3, 2e-4)),
    "rpgan_toy": ("rpgan", ["r1"], ("adam", 2e-3, 3e-4)),
    "preference_toy": ("preference", ["r1"], ADAM),
    "feature_matching_toy": ("feature_matching", ["r1"], ("adam", 2e-3, 3e-4)),
    "wgan_gp_toy": ("wgan_gp", [], ADAM),
    "wgan_toy": ("wgan", [], ("rmsprop", 1e-3, 1e-4)),
    "hinge_sn_toy": ("hinge", [], ("adam", 2e-3, 2e-4)),
    "sinkhorn_toy": ("sinkhorn", [], ("adam", 2e-3, 3e-4)),  # no D: G's rate only
    "began_toy": ("began", [], ("adam", 2e-3, 1e-4)),  # D an autoencoder
}


def test_every_tuned_toy_preset_is_listed():
    assert TOY == sorted(TOY_GAMES)


@pytest.mark.parametrize("preset", TOY)
def test_tuned_toy_presets_sample_g_itself_and_decay_to_a_fraction_of_the_start(preset):
    """The recipe BENCHMARKS.md's "Every objective on the toys" measured: no EMA (it
    narrows the modes), a cosine decay, R1 on the data unless the game has its own
    constraint (WGAN-GP's penalty at lambda 1, WGAN's clip at 0.1), D is spectrally
    normalised or BEGAN's autoencoder, or there is no D (the Sinkhorn loss on the
    points); 6,000 generator steps, 8,000 where the longer anneal measured better
    (feature matching and WGAN: "A longer run, a softer R1", "What did help was time")."""
    cfg = load_config(CONFIGS / "toy" / f"{preset}.toml")
    assert cfg.train.g_ema == 0.0
    longer = preset in ("feature_matching_toy", "wgan_toy")
    assert cfg.train.steps == (8000 if longer else 6000)
    objective, stabilizers, optim = TOY_GAMES[preset]
    for o in (cfg.g_optim,) if objective == "sinkhorn" else (cfg.g_optim, cfg.d_optim):
        assert (o.name, o.lr, o.lr_final, o.lr_decay) == optim + ("cosine",)
    assert cfg.objective.name == objective
    assert [s.name for s in cfg.stabilizers] == stabilizers
    if objective == "wgan_gp":
        assert (cfg.objective.options["lambda_gp"], cfg.train.d_steps) == (1.0, 1)
    if objective == "wgan":
        assert (cfg.objective.options["clip"], cfg.train.d_steps) == (0.1, 2)
    if stabilizers == ["r1"]:  # feature matching's sharper D (BENCHMARKS.md)
        gamma = 0.3 if objective == "feature_matching" else 1.0
        assert cfg.stabilizers[0].options["gamma"] == gamma
    if objective == "began":
        o = cfg.objective.options
        assert (o["gamma"], o["lambda_k"], o["k_min"], cfg.discriminator.net) == \
            (1.0, 0.01, 0.6, "began")
    if objective == "sinkhorn":
        o = cfg.objective.options
        assert (o["space"], o["eps"], o["rho"], o["debiased"], cfg.data.batch_size) == \
            ("data", 1e-4, 1.0, True, 256)
    sn = cfg.discriminator.options.get("spectral_norm", False)
    assert sn == preset.endswith("_sn_toy")
    if sn:
        assert (cfg.train.d_steps, cfg.discriminator.options["lipschitz"]) == (2, 2.0)


# configs/digits/: preset -> (objective, [(stabilizer, gamma, on)], D batch norm, steps);
# BENCHMARKS.md's "Image quality on digits" rows were measured with these values. A new
# preset in the folder must be listed here.
R1 = [("r1", 1.0, "real")]
DIGITS = {
    "ns_r1_ema_digits": ("nonsaturating", R1, True, 6000),
    "cond_r1_ema_digits": ("nonsaturating", R1, True, 3000),
    "minimax_r1_ema_digits": ("minimax", R1, True, 6000),
    "hinge_r1_ema_digits": ("hinge", R1, True, 6000),
    "hinge_sn_ema_digits": ("hinge", [], False, 6000),  # spectral norm as D's constraint
    "preference_r1_ema_digits": ("preference", R1, True, 6000),
    "rpgan_r1_r2_ema_digits": ("rpgan", [("r1", 1.0, "both")], False, 6000),
    "wgan_gp_ema_digits": ("wgan_gp", [], False, 6000),
    "wgan_ema_digits": ("wgan", [], True, 6000),
    "feature_matching_r1_ema_digits": ("feature_matching", R1, True, 6000),
    "began_ema_digits": ("began", [], None, 6000),  # an autoencoder D: no batch norm option
    "sinkhorn_ema_digits": ("sinkhorn", [], True, 6000),  # (D is built but not trained)
}
# ((G's optimizer, lr, lr_final, Adam's betas), (D's), D steps per G step) where a preset
# leaves the recipe's Adam 5e-4 (0, 0.99) -> 5e-5 and one D step
ADAM = ("adam", 5e-4, 5e-5, (0.0, 0.99))
RMSPROP = ("rmsprop", 1e-3, 1e-4, None)
BEGAN_ADAM = ("adam", 1e-4, 1e-5, (0.0, 0.99))
DIGITS_OPTIM = {"wgan_ema_digits": (RMSPROP, RMSPROP, 5),
                "feature_matching_r1_ema_digits": (("adam", 4e-3, 4e-4, (0.0, 0.99)), ADAM, 2),
                "began_ema_digits": (BEGAN_ADAM, BEGAN_ADAM, 1)}
# the other values the searches chose, as benchmarked
DIGITS_OPTIONS = {
    "wgan_ema_digits": {"objective.clip": 0.01},
    "hinge_sn_ema_digits": {"discriminator.spectral_norm": True},
    "feature_matching_r1_ema_digits": {"data.batch_size": 128},
    "sinkhorn_ema_digits": {"objective.space": "data", "objective.cost": "sqeuclidean",
                            "objective.eps": 20.0, "objective.debiased": True,
                            "data.batch_size": 256},
    "began_ema_digits": {"objective.gamma": 1.0, "objective.lambda_k": 0.01, "objective.k_min": 0.9,
                         "objective.eta": 2,
                         "objective.stall_window": 0, "generator.net": "dcgan",
                         "discriminator.net": "began", "discriminator.n_filters": 16,
                         "discriminator.h_dim": 8, "generator.z_dim": 8,
                         "generator.width": 128},
}


def test_every_digits_preset_is_listed():
    assert sorted(p.stem for p in (CONFIGS / "digits").glob("*.toml")) == sorted(DIGITS)


@pytest.mark.parametrize("preset", sorted(DIGITS))
def test_digits_presets_are_the_benchmarked_recipe_and_train_by_name(tmp_path, preset):
    objective, stabilizers, batchnorm, steps = DIGITS[preset]
    cfg = load_config(CONFIGS / "digits" / f"{preset}.toml")
    conditional = preset.startswith("cond")
    assert (cfg.data.name, cfg.data.options["size"], cfg.objective.name) == (
        "digits", 16, objective)
    assert [(s.name, s.options["gamma"], s.options["on"]) for s in cfg.stabilizers] == \
        stabilizers
    assert all(s.options["every"] == 4 for s in cfg.stabilizers)
    assert cfg.discriminator.options.get("batchnorm") == batchnorm
    assert (cfg.train.g_ema, cfg.train.steps) == (0.999, steps)
    g_opt, d_opt, d_steps = DIGITS_OPTIM.get(preset, (ADAM, ADAM, 1))
    assert cfg.train.d_steps == d_steps
    for o, (name, lr, lr_final, betas) in ((cfg.g_optim, g_opt), (cfg.d_optim, d_opt)):
        assert (o.name, o.lr, o.lr_decay, o.lr_final) == (name, lr, "cosine", lr_final)
        if betas is not None:
            assert (o.beta1, o.beta2) == betas
    resolved = to_dict(cfg)
    for key, value in DIGITS_OPTIONS.get(preset, {}).items():
        section, option = key.split(".")
        assert resolved[section][option] == value, key
    sets = [f"out_dir='{tmp_path}'", "train.steps=2", "train.eval_every=2",
            "train.tensorboard=false", "eval.n_samples=40", "data.batch_size=16",
            "generator.width=8", "discriminator.width=8"]
    assert main(["train", preset] + sum([["--set", s] for s in sets], [])) == 0  # by name
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in rows if r["kind"] == "eval"][-1]
    assert last["step"] == 2 and last["fid"] >= 0 and last["is"] >= 1
    assert ("class_acc" in last) == conditional


# the top-level presets of single techniques and the conditional ones, which no other
# test trains: preset -> (the technique as the saved config has it, a key its log has)
TECHNIQUES = {
    "ns_ha": (lambda c: c.stabilizers[0].name == "historical_averaging", "d_real"),
    "ns_in": (lambda c: c.stabilizers[0].options["sigma0"] == 0.1, "d_real"),
    "ns_ls": (lambda c: c.stabilizers[0].options["alpha"] == 0.9, "d_real"),
    "ns_mbd": (lambda c: c.discriminator.options["mbd_kernels"] == 4, "d_real"),
    "ns_mbd_ls": (lambda c: (c.discriminator.options["mbd_kernels"],
                             c.stabilizers[0].name) == (4, "label_smoothing"), "d_real"),
    "ns_pack4": (lambda c: c.discriminator.options["pack"] == 4, "d_real"),
    "ns_pack4_in": (lambda c: (c.discriminator.options["pack"], c.stabilizers[0].name)
                    == (4, "instance_noise"), "d_real"),
    "ns_r1": (lambda c: c.stabilizers[0].name == "r1", "d_penalty"),
    "ns_vbn": (lambda c: c.generator.options["vbn"] is True, "d_real"),
    "ns_wn_noise": (lambda c: c.discriminator.options["weightnorm"] is True, "d_real"),
    "cond_ring": (lambda c: c.generator.options["conditional"] == "input", "d_real"),
    "cond_grid": (lambda c: c.discriminator.options["conditional"] == "projection", "d_real"),
    "cond_acgan_digits": (lambda c: c.objective.name == "acgan", "d_real"),
    "cond_dcgan_digits": (lambda c: c.generator.options["conditional"] == "cbn", "d_real"),
    "cond_dcgan_mnist5k": (lambda c: c.data.name == "mnist5k", "d_real"),
}


@pytest.mark.parametrize("preset", sorted(TECHNIQUES))
def test_technique_and_conditional_presets_train_and_evaluate_by_name(tmp_path, preset):
    has_technique, log_key = TECHNIQUES[preset]
    sets = [f"out_dir='{tmp_path}'", "train.steps=2", "train.eval_every=2",
            "train.log_every=1", "train.ckpt_every=2", "train.tensorboard=false"]
    assert main(["train", preset] + sum([["--set", s] for s in sets], [])) == 0
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    saved = load_config(run / "config.toml")
    assert has_technique(saved)
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert any(log_key in r for r in rows if r["kind"] == "train")
    (last,) = [r for r in rows if r["kind"] == "eval" and r["step"] == 2]
    # the preset's metrics, or its data's defaults (as Trainer.metric_names reads them)
    metrics = saved.eval.metrics or build_dataset(saved.data, 0).default_metrics
    assert metrics
    for metric in metrics:  # each reported
        stem = metric.split("_")[0]  # class_modes logs class_hq, intra_fid intra_fid, ...
        assert any(k.startswith(stem) for k in last), (metric, sorted(last))


def test_every_preset_is_trained_by_some_test():
    """A preset no test trains can break unseen: each file in configs/ is named in a
    test module (listed in a table like the ones above, or trained by a glob)."""
    tests = "\n".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    globbed = {p.stem for p in (CONFIGS / "toy").glob("*.toml")}
    missing = [p.relative_to(CONFIGS).as_posix() for p in sorted(CONFIGS.rglob("*.toml"))
               if p.stem not in globbed and not re.search(rf"\b{p.stem}\b", tests)]
    assert not missing, f"presets no test names: {missing}"
