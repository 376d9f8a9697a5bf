import copy
import dataclasses

import pytest

from gankit.components import load_config, resolve_config
from gankit.config import ConfigError, RunConfig, read_config, save_config, to_dict
from gankit.registry import NETS, OBJECTIVES, STABILIZERS
from gankit.rundir import RunDir
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
    cfg = read_config(sets=["generator.widht=64"])  # the net is chosen by name first...
    assert cfg.generator.options == {"widht": 64}
    with pytest.raises(ConfigError, match=r"'generator\.widht'.*did you mean 'width'"):
        load_config(sets=["generator.widht=64"])  # ...and its options checked on loading
    with pytest.raises(ConfigError, match=r"data\.std: -1\.0 is out of range"):
        load_config(sets=["data.std=-1.0"])


def test_unknown_component_names_list_the_valid_ones():
    with pytest.raises(KeyError, match=r"unknown dataset 'rng'.*'ring'.*valid:.*grid, .*ring"):
        load_config(sets=["data.name='rng'"])
    with pytest.raises(KeyError, match=r"unknown objective 'wgan-xx'.*valid:.*minimax"):
        load_config(sets=["objective.name='wgan-xx'"])
    with pytest.raises(KeyError, match=r"unknown net 'resnet'.*valid:.*mlp"):
        load_config(sets=["discriminator.net='resnet'"])


def test_set_overrides_file_and_parses_toml_values(tmp_path):
    path = write(tmp_path, "seed = 3\n[train]\nsteps = 10\n")
    cfg = load_config(path, ["train.steps=20", "eval.metrics=['modes']", "name=plain"])
    assert (cfg.seed, cfg.train.steps, cfg.eval.metrics, cfg.name) == (3, 20, ["modes"], "plain")


def test_resolved_config_round_trips_with_component_defaults(tmp_path):
    cfg = load_config(sets=["generator.width=64", "data.name='grid'"])  # resolves options
    assert cfg.generator.options["depth"] == 3 and cfg.data.options["std"] == 0.05
    save_config(cfg, tmp_path / "r.toml")
    again = load_config(tmp_path / "r.toml")
    assert to_dict(again) == to_dict(cfg)


def test_every_component_option_is_filled_in_on_loading():
    cfg = load_config(sets=["objective.name='wgan'", "stabilizers=[{name='r1', gamma=2.0}]"])
    assert cfg.objective.options == dataclasses.asdict(OBJECTIVES.get("wgan").Options())
    r1 = dataclasses.asdict(STABILIZERS.get("r1").Options(gamma=2.0))
    assert cfg.stabilizers[0].options == r1 and r1["every"] == 1
    assert cfg.discriminator.options == dataclasses.asdict(NETS.get("mlp").Options())


def test_building_reads_the_config_and_never_changes_it(tmp_path):
    cfg = load_config(sets=["data.name='grid'", "stabilizers=[{name='label_smoothing'}]",
                            "generator.width=16", "discriminator.width=16",
                            f"out_dir='{tmp_path}'"])
    before = copy.deepcopy(to_dict(cfg))
    t = Trainer(cfg)
    assert to_dict(cfg) == before and t.cfg is cfg
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.steps = 5  # nothing can: the config classes are frozen
    run = RunDir.create(cfg, tensorboard=False)  # before or after Trainer: the same file
    assert to_dict(read_config(run.path / "config.toml")) == before


def test_missing_and_invalid_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="c.toml.*not valid TOML"):
        load_config(write(tmp_path, "[train\n"))


def test_dataclass_defaults_are_valid():
    assert to_dict(read_config()) == to_dict(RunConfig())
    assert to_dict(load_config()) == to_dict(resolve_config(RunConfig()))


def test_set_reaches_into_a_list_of_tables_by_index_or_unique_name():
    # [[stabilizers]] is a list of tables; a sweep axis on R1's gamma must reach it
    by_index = read_config("ns_r1_ema", ["stabilizers.0.gamma=0.5"])
    by_name = read_config("ns_r1_ema", ["stabilizers.r1.samples=32"])
    assert by_index.stabilizers[0].options["gamma"] == 0.5
    assert by_name.stabilizers[0].options["samples"] == 32
    assert by_name.stabilizers[0].options["gamma"] == 0.1  # the rest untouched
    for bad, words in [("stabilizers.3.gamma=1", "valid: 0, r1"),
                       ("stabilizers.r2.gamma=1", "no entry 'r2'"),
                       ("stabilizers.gamma=1", "list of tables")]:
        with pytest.raises(ConfigError, match=words):
            read_config("ns_r1_ema", [bad])


def test_base_makes_a_file_a_variant_of_another(tmp_path):
    (tmp_path / "parent.toml").write_text(
        'name = "parent"\n[data]\nname = "grid"\nbatch_size = 64\n'
        '[objective]\nname = "wgan"\nclip = 0.02\n'
        '[[stabilizers]]\nname = "r1"\ngamma = 2.0\n'
        '[train]\nsteps = 7\ng_ema = 0.9\n')
    child = tmp_path / "child.toml"
    child.write_text('base = "parent"\n[train]\nsteps = 9\n')
    cfg = read_config(child)
    # tables overlay key by key; the run name is the file's own
    assert (cfg.train.steps, cfg.train.g_ema) == (9, 0.9)
    assert (cfg.data.name, cfg.data.batch_size) == ("grid", 64)
    assert cfg.objective.options == {"clip": 0.02} and cfg.name == ""
    # another component replaces the base's table (wgan's clip would be refused by
    # wgan_gp); a list of tables replaces the base's list
    child.write_text('base = "parent.toml"\nstabilizers = []\n'
                     '[objective]\nname = "wgan_gp"\n')
    cfg = load_config(child)
    assert cfg.objective.name == "wgan_gp" and "clip" not in cfg.objective.options
    assert cfg.stabilizers == [] and cfg.data.name == "grid"
    # a shipped preset as the base, --set on top of both
    child.write_text('base = "ns_r1_ema"\n[train]\nsteps = 5\n')
    cfg = read_config(child, ["stabilizers.r1.gamma=2"])
    assert cfg.train.steps == 5 and cfg.stabilizers[0].options["gamma"] == 2.0
    assert cfg.train.g_ema == read_config("ns_r1_ema").train.g_ema


def test_a_bad_base_is_named(tmp_path):
    child = tmp_path / "child.toml"
    child.write_text('base = "no_such_preset"\n')
    with pytest.raises(ConfigError, match=r"child\.toml.*base 'no_such_preset'"):
        read_config(child)
    child.write_text('base = 3\n')
    with pytest.raises(ConfigError, match="base must be a config file or preset name"):
        read_config(child)
    (tmp_path / "a.toml").write_text('base = "child"\n')
    child.write_text('base = "a"\n')
    with pytest.raises(ConfigError, match=r"makes a loop: .*child\.toml -> .*a\.toml -> "
                                          r".*child\.toml"):
        read_config(child)
