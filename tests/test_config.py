import pytest

from gankit.config import ConfigError, RunConfig, load_config, save_config, to_dict
from gankit.train import Trainer


def write(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_defaults_are_the_ring_and_nonsaturating():
    cfg = load_config()
    assert cfg.data.name == "ring" and cfg.objective.name == "nonsaturating"


def test_unknown_key_names_nearest_valid_key(tmp_path):
    with pytest.raises(ConfigError, match=r"'train\.step'.*did you mean 'steps'"):
        load_config(write(tmp_path, "[train]\nstep = 10\n"))


def test_unknown_section_names_nearest(tmp_path):
    with pytest.raises(ConfigError, match=r"'trian'.*did you mean 'train'"):
        load_config(write(tmp_path, "[trian]\nsteps = 10\n"))


def test_wrong_type_names_key_and_expected_type():
    with pytest.raises(ConfigError, match=r"train\.steps: expected an integer, got 'many'"):
        load_config(sets=["train.steps=many"])
    with pytest.raises(ConfigError, match=r"g_optim\.lr: expected a number"):
        load_config(sets=["g_optim.lr=true"])


def test_out_of_range_and_choices():
    with pytest.raises(ConfigError, match=r"train\.d_steps: 0 is out of range; it must be >= 1"):
        load_config(sets=["train.d_steps=0"])
    with pytest.raises(ConfigError, match=r"g_optim\.lr: 0\.0 is out of range; it must be > 0"):
        load_config(sets=["g_optim.lr=0.0"])
    with pytest.raises(ConfigError, match=r"d_optim\.name: 'adamw' is not allowed.*'rmsprop'"):
        load_config(sets=["d_optim.name='adamw'"])


def test_component_options_are_checked_against_the_component():
    cfg = load_config(sets=["generator.widht=64"])  # the net is chosen by name first
    with pytest.raises(ConfigError, match=r"'generator\.widht'.*did you mean 'width'"):
        Trainer(cfg)
    with pytest.raises(ConfigError, match=r"data\.std: -1\.0 is out of range"):
        Trainer(load_config(sets=["data.std=-1.0"]))


def test_unknown_component_names_list_the_valid_ones():
    with pytest.raises(KeyError, match=r"unknown dataset 'rng'.*'ring'.*valid:.*grid, .*ring"):
        Trainer(load_config(sets=["data.name='rng'"]))
    with pytest.raises(KeyError, match=r"unknown objective 'wgan-xx'.*valid:.*minimax"):
        Trainer(load_config(sets=["objective.name='wgan-xx'"]))
    with pytest.raises(KeyError, match=r"unknown net 'resnet'.*valid:.*mlp"):
        Trainer(load_config(sets=["discriminator.net='resnet'"]))


def test_set_overrides_file_and_parses_toml_values(tmp_path):
    path = write(tmp_path, "seed = 3\n[train]\nsteps = 10\n")
    cfg = load_config(path, ["train.steps=20", "eval.metrics=['modes']", "name=plain"])
    assert (cfg.seed, cfg.train.steps, cfg.eval.metrics, cfg.name) == (3, 20, ["modes"], "plain")


def test_resolved_config_round_trips_with_component_defaults(tmp_path):
    cfg = load_config(sets=["generator.width=64", "data.name='grid'"])
    Trainer(cfg)  # resolves component options
    assert cfg.generator.options["depth"] == 3 and cfg.data.options["std"] == 0.05
    save_config(cfg, tmp_path / "r.toml")
    again = load_config(tmp_path / "r.toml")
    assert to_dict(again) == to_dict(cfg)


def test_missing_and_invalid_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="c.toml.*not valid TOML"):
        load_config(write(tmp_path, "[train\n"))


def test_dataclass_defaults_are_valid():
    assert to_dict(load_config()) == to_dict(RunConfig())
