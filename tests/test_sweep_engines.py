"""gankit sweep on other engines: a sweep on Ray or through submitit gives the local
engine's table, reports a failed run the same way, and an engine that is not installed
is one error line with nothing written."""
import json
import os
import shutil
import sys

import pytest

from gankit.cli import build_parser, main
from gankit.sweep import slurm_parameters, submit_slurm
from gankit.sweep_spec import SweepSpec, Variant, expand

TINY = ["train.steps=40", "train.eval_every=40", "train.log_every=20", "train.ckpt_every=20",
        "train.tensorboard=false", "eval.n_samples=300", "generator.width=32",
        "discriminator.width=32"]


def _sweep(out, *extra, jobs="2"):
    return main(["sweep", "--seeds", "2", "--jobs", jobs, "--out", str(out), *extra]
                + [a for s in TINY for a in ("--set", s)])


def _table(path):
    return json.loads((path / "results.json").read_text())


@pytest.fixture(scope="module")
def ray():
    """Ray, or a skip (named before ``local_sweep``, so nothing runs first)."""
    return pytest.importorskip("ray")


@pytest.fixture(scope="module")
def submitit():
    return pytest.importorskip("submitit")


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("engines") / "local"
    assert _sweep(out) == 0
    return out


def _span(metrics):
    """(first, last) wall-clock time a run wrote into its metrics.jsonl."""
    times = [json.loads(line)["time"] for line in metrics.read_text().splitlines()]
    return min(times), max(times)


def test_ray_sweep_gives_the_local_table(ray, local_sweep, tmp_path):
    out = tmp_path / "ray"
    assert _sweep(out, "--engine", "ray", jobs="1") == 0
    assert _table(out) == _table(local_sweep)  # seeded runs: the same numbers
    assert not ray.is_initialized()  # the local Ray instance was shut down
    # --jobs 1 on Ray: one run at a time, so one run ended before the other began
    first, second = sorted(_span(m) for m in out.glob("runs/*/seed-*/*/metrics.jsonl"))
    assert first[1] <= second[0]


@pytest.mark.parametrize("cluster", ["local", "debug"])
def test_submitit_sweep_gives_the_local_table(submitit, local_sweep, tmp_path, cluster):
    out = tmp_path / cluster
    assert _sweep(out, "--engine", "slurm", "--slurm-cluster", cluster) == 0
    assert _table(out) == _table(local_sweep)
    assert len(list((out / "slurm").glob("*_log.out"))) == 2  # the runs went through submitit


@pytest.mark.parametrize("engine", [["local"], ["ray"], ["slurm", "--slurm-cluster", "local"]],
                         ids=["local", "ray", "submitit"])
def test_a_failed_run_is_reported_alike_by_every_engine(local_sweep, tmp_path, capsys, engine):
    if engine[0] != "local":
        pytest.importorskip({"ray": "ray", "slurm": "submitit"}[engine[0]])
    sweep = tmp_path / "s"
    shutil.copytree(local_sweep, sweep)
    (sweep / "results.json").unlink()
    run = next(sweep.glob("runs/default/seed-1/*/config.toml")).parent
    (run / "metrics.jsonl").unlink()  # unfinished, so the sweep resumes it ...
    for ckpt in (run / "checkpoints").glob("ckpt-*"):
        ckpt.write_text("not a checkpoint")  # ... and the resume fails
    capsys.readouterr()
    assert main(["sweep", "--resume", str(sweep), "--engine", *engine]) == 1
    out, err = capsys.readouterr()
    log = sweep.resolve() / "runs" / "default" / "seed-1" / "train.log"
    assert f"  [1/2] default seed 1: FAILED (exit 2; see {log})\n" in out
    assert f"error: 1 run(s) failed; fix the cause and run gankit sweep --resume {sweep}" in err
    assert "no loadable checkpoint" in log.read_text()
    assert _table(sweep)["variants"]["default"]["modes"]["interval"]["n"] == 1  # seed 0's


@pytest.mark.parametrize("engine, module, extra", [("ray", "ray", "ray"),
                                                   ("slurm", "submitit", "slurm")])
def test_an_engine_that_is_not_installed_is_one_line(tmp_path, capsys, monkeypatch, engine,
                                                     module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    expected = [f"error: --engine {engine} needs {module}, which is not installed: "
                f"pip install 'gankit[{extra}]'"]
    out = tmp_path / "new"
    assert main(["sweep", "--engine", engine, "--out", str(out)]) == 2
    assert capsys.readouterr().err.splitlines() == expected
    assert not out.exists()

    old = tmp_path / "old"
    old.mkdir()
    SweepSpec(expand([None], [], []), [0]).save(old)
    assert main(["sweep", "--resume", str(old), "--engine", engine]) == 2
    assert capsys.readouterr().err.splitlines() == expected
    assert [p.name for p in old.iterdir()] == ["sweep.json"]


@pytest.mark.parametrize("argv, message", [
    (["--slurm-partition", "p"], "the --slurm-* options are for --engine slurm, not --engine local"),
    (["--ray-address", "auto"], "--ray-address is for --engine ray, not --engine local"),
    (["--engine", "slurm", "--slurm-cluster", "local", "--slurm-param", "qos"],
     "--slurm-param 'qos': expected KEY=VALUE"),
    (["--engine", "slurm", "--slurm-cluster", "local", "--slurm-time", "0"],
     "--slurm-time must be >= 1 minute"),
    (["--engine", "slurm"], "no SLURM on this machine (srun not found)"),
])
def test_bad_engine_options_are_refused_before_anything_is_written(tmp_path, capsys, argv,
                                                                   message):
    if "slurm" in argv:
        pytest.importorskip("submitit")
        if "--slurm-cluster" not in argv and shutil.which("srun"):
            pytest.skip("SLURM is installed here")
    out = tmp_path / "s"
    assert main(["sweep", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists()


def test_slurm_options_reach_sbatch(submitit, tmp_path, monkeypatch):
    """With stand-ins for srun and sbatch (no SLURM here), the job array's script asks for
    what the options say: partition, time, memory, one CPU per run, --jobs at once."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "sbatch").write_text(f'#!/bin/sh\ncp "$1" {tmp_path}/script.sh\n'
                                    "echo Submitted batch job 4242\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    args = build_parser().parse_args([
        "sweep", "--engine", "slurm", "--jobs", "3", "--slurm-partition", "cpuq",
        "--slurm-time", "30", "--slurm-mem", "2", "--slurm-param", "account=lab"])
    jobs = [(Variant("default"), s, tmp_path / f"seed-{s}") for s in range(5)]
    submitted = submit_slurm(jobs, args.jobs, tmp_path / "slurm", slurm_parameters(args),
                             args.slurm_cluster)
    assert [j.job_id for j in submitted] == [f"4242_{s}" for s in range(5)]
    script = (tmp_path / "script.sh").read_text().splitlines()
    for line in ["#SBATCH --partition=cpuq", "#SBATCH --time=30", "#SBATCH --mem=2GB",
                 "#SBATCH --cpus-per-task=1", "#SBATCH --array=0-4%3", "#SBATCH --account=lab"]:
        assert line in script
