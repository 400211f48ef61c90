"""The `genpolicy` command end to end on tiny budgets, and its one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from genpolicy.cli import main
from genpolicy.demo import TWO_PATHS_ALGOS
from genpolicy.trainers import get_algorithm
from tests.conftest import make_dataset


@pytest.fixture(autouse=True)
def _data_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENPOLICY_DATA", str(tmp_path / "cache"))


def test_collect_fit_evaluate_sample(tmp_path, capsys):
    data, run = tmp_path / "data", tmp_path / "run"
    assert main(["collect", "two-paths", "--episodes", "6", "--out", str(data)]) == 0
    assert main(["fit", "bc-gmm", "--data", str(data), "--steps", "200", "--out", str(run), "--set", "policy.pred_horizon=4",
                 "--set", "policy.action_horizon=2", "--eval-episodes", "2", "--eval-every", "1"]) == 0
    assert (run / "policy/model.safetensors").exists() and (run / "checkpoints/last.ckpt").exists()
    saved = json.loads((run / "config.json").read_text())
    assert saved["config"]["policy"]["pred_horizon"] == 4 and saved["config"]["steps"] == 200
    assert json.loads((run / "eval_history.json").read_text())[-1]["updates"] == 200
    assert main(["evaluate", str(run), "--episodes", "3", "--num-envs", "2"]) == 0
    result = json.loads((run / "eval-3ep-seed0.json").read_text())
    assert len(result["returns"]) == 3
    # another setting writes its own file instead of replacing the first result
    assert main(["evaluate", str(run), "--episodes", "2", "--num-envs", "2", "--seed", "5"]) == 0
    assert len(json.loads((run / "eval-2ep-seed5.json").read_text())["returns"]) == 2
    assert json.loads((run / "eval-3ep-seed0.json").read_text()) == result
    assert main(["sample", str(run), "--num", "8", "--rollouts", "2", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 10_000
    # Running fit again resumes the finished run instead of starting over.
    assert main(["fit", "bc-gmm", "--data", str(data), "--steps", "200", "--out", str(run), "--set", "policy.pred_horizon=4",
                 "--set", "policy.action_horizon=2", "--eval-episodes", "0"]) == 0
    assert json.loads((run / "config.json").read_text())["config"]["steps"] == 200


def test_fit_on_task_name_collects_and_caches(tmp_path, monkeypatch):
    argv = ["fit", "bc", "--data", "two-paths", "--episodes", "3", "--steps", "40", "--eval-episodes", "0"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 0
    cached = sorted((tmp_path / "cache").iterdir())
    assert len(cached) == 1

    def no_second_collection(*args, **kwargs):
        raise AssertionError("the cached dataset should have been reused")

    monkeypatch.setattr("genpolicy.datasets.collect.collect", no_second_collection)
    assert main([*argv, "--out", str(tmp_path / "run2")]) == 0
    assert sorted((tmp_path / "cache").iterdir()) == cached


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fit", "bc", "--data", "/no/such/file.hdf5"], "/no/such/file.hdf5"),
        (["fit", "nope", "--data", "two-paths"], "unknown algorithm 'nope'"),
        (["fit", "bc", "--data", "two-paths", "--set", "bogus=1"], "unknown config key 'bogus'"),
        (["evaluate", "/no/run"], "neither a run directory"),
        (["collect", "nope", "--out", "/tmp/x"], "unknown task 'nope'"),
    ],
)
def test_bad_input_is_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("genpolicy: error:") and message in err[-1]
    assert not any("Traceback" in line for line in err)


def test_corrupt_hdf5_and_unknown_env(tmp_path, capsys):
    bad = tmp_path / "bad.hdf5"
    bad.write_bytes(b"not an hdf5 file")
    assert main(["fit", "bc", "--data", str(bad)]) == 2
    assert "bad.hdf5" in capsys.readouterr().err
    data, run = tmp_path / "data", tmp_path / "run"
    main(["collect", "two-paths", "--episodes", "2", "--out", str(data)])
    main(["fit", "bc", "--data", str(data), "--steps", "20", "--out", str(run), "--eval-episodes", "0"])
    assert main(["evaluate", str(run), "--env", "NoSuchEnv-v9", "--episodes", "1"]) == 2
    assert "NoSuchEnv" in capsys.readouterr().err.strip().splitlines()[-1]


def test_console_script_exit_code():
    result = subprocess.run([sys.executable, "-m", "genpolicy.cli", "fit", "bc", "--data", "/missing"], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1].startswith("genpolicy: error:")


@pytest.mark.parametrize("name", sorted(TWO_PATHS_ALGOS))
def test_every_benchmark_config_builds(name):
    """The demo / two-paths table configs stay valid as configs evolve (no training here)."""

    algo_name, overrides, steps = TWO_PATHS_ALGOS[name]
    algo_class, config_class, variant = get_algorithm(algo_name)
    from genpolicy.config import build_config as build

    config = build(config_class, {**variant, **overrides, "steps": steps})
    algo = algo_class(config, make_dataset(obs_dim=2, act_dim=2))
    assert algo.export_policy().config.act_dim == 2


# ------------------------------------------------------------ issue 10: what a user sees
def test_fit_help_lists_the_algorithms(capsys):
    from genpolicy.trainers import ALGORITHMS

    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    out = capsys.readouterr().out
    assert all(f"\n  {name} " in out for name in ALGORITHMS) and "--print-config" in out and "resume" in out


def test_print_config_trains_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "vae", "--data", "two-paths", "--set", "kl_weight=3", "--steps", "123", "--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["algo"] == "vae" and printed["config"]["kl_weight"] == 3 and printed["config"]["steps"] == 123
    assert list(tmp_path.iterdir()) == []  # no runs/, no collected data cache
    assert main(["fit", "bc", "--print-config"]) == 0  # no --data needed just to look


def _byo_data(tmp_path) -> str:
    """Bring-your-own data: bare D4RL keys in an .npz that records no env."""
    import numpy as np

    from genpolicy.datasets import load_dataset

    main(["collect", "two-paths", "--episodes", "3", "--out", str(tmp_path / "collected")])
    d = load_dataset(tmp_path / "collected")
    path = tmp_path / "mydata.npz"
    np.savez(path, observations=d.observations.numpy(), actions=d.actions.numpy(), rewards=d.rewards.numpy(),
             terminals=d.terminations.numpy(), timeouts=d.truncations.numpy())
    assert not load_dataset(path).metadata.get("env_id")
    return str(path)


def test_bring_your_own_data_run_dir_and_env(tmp_path, monkeypatch, capsys):
    data = _byo_data(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "bc", "--data", data, "--steps", "20", "--eval-episodes", "0"]) == 0
    run = tmp_path / "runs" / "bc-mydata"  # the file's stem, not bc-mydata.npz
    assert (run / "policy").is_dir()
    capsys.readouterr()
    assert main(["evaluate", str(run), "--episodes", "1"]) == 2
    assert "--env" in capsys.readouterr().err.splitlines()[-1]
    # `fit --env` records the env, so evaluation (and periodic evaluation) finds it
    assert main(["fit", "bc", "--data", data, "--env", "two-paths", "--steps", "20", "--eval-episodes", "1",
                 "--eval-every", "1", "--out", str(tmp_path / "with-env")]) == 0
    assert json.loads((tmp_path / "with-env" / "eval_history.json").read_text())
    assert main(["evaluate", str(tmp_path / "with-env"), "--episodes", "1", "--num-envs", "1"]) == 0


def test_minari_id_not_on_disk_is_downloaded_on_request(tmp_path, monkeypatch, capsys):
    """The download path with minari's own download call patched (no network here)."""
    import shutil

    import minari

    from genpolicy.datasets import minari_dataset_path

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    main(["collect", "two-paths", "--episodes", "2", "--out", str(tmp_path / "collected")])
    calls = []

    def fake_download(dataset_id, force_download=False):  # what minari does: files under its root
        calls.append(dataset_id)
        shutil.copytree(tmp_path / "collected", minari_dataset_path(dataset_id))

    monkeypatch.setattr(minari, "download_dataset", fake_download)
    argv = ["fit", "bc", "--data", "test/twopaths/expert-v0", "--steps", "20", "--eval-episodes", "0", "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    assert "pass --download" in capsys.readouterr().err.splitlines()[-1] and calls == []
    assert main([*argv, "--download"]) == 0 and calls == ["test/twopaths/expert-v0"]
    assert main(argv) == 0 and len(calls) == 1  # now on disk: no second download

    def offline(dataset_id, force_download=False):
        raise ConnectionError("Failed to resolve 'huggingface.co'")

    monkeypatch.setattr(minari, "download_dataset", offline)
    capsys.readouterr()
    assert main(["fit", "bc", "--data", "mujoco/hopper/medium-v0", "--download"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no network reachable?" in err[0] and "mujoco/hopper/medium-v0" in err[0]


def test_sigterm_stops_fit_with_a_checkpoint_and_the_same_command_resumes(tmp_path):
    import os
    import signal
    import time

    data, run = tmp_path / "data", tmp_path / "run"
    assert main(["collect", "two-paths", "--episodes", "3", "--out", str(data)]) == 0
    env = {**os.environ, "GENPOLICY_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "genpolicy.cli", "fit", "bc", "--data", str(data), "--out", str(run),
            "--eval-episodes", "0", "--set", "policy.hidden_dims=[32,32]"]
    process = subprocess.Popen([*argv, "--steps", "1000000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in process.stdout:  # the ETA line: training is under way
            if " updates at " in line:
                break
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert time.monotonic() - sent < 15
    assert process.returncode == 128 + signal.SIGTERM
    last = err.strip().splitlines()[-1]
    assert last.startswith("genpolicy: stopped at update ") and "run the same command to resume" in last
    stopped_at = int(last.split("update ")[1].split(";")[0])
    assert (run / "checkpoints/last.ckpt").is_file() and not (run / "policy").exists()
    # resume (here with a total just past the stop, to finish quickly) continues from there
    done = subprocess.run([*argv, "--steps", str(stopped_at + 60)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Restored all states" in done.stdout + done.stderr and (run / "policy/model.safetensors").is_file()


def test_bench_train_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "train", "--updates", "100"]) == 0
    out = capsys.readouterr().out
    assert "plain PyTorch loop" in out and "ratio" in out


def test_demo_quick(tmp_path, capsys):
    """`genpolicy demo --quick`: the whole story on tiny budgets (~25 s on one busy core)."""
    assert main(["demo", "--quick", "--out", str(tmp_path / "demo")]) == 0
    report = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert sorted(report) == ["bc-mse", "bc-mse-chunk", "diffusion"]
    assert all("success_rate" in row and row["train_seconds"] > 0 for row in report.values())
    for name in ("report.md", "rollouts.png", "samples.png"):
        assert (tmp_path / "demo" / name).stat().st_size > 1000, name


def test_resuming_with_more_steps_keeps_the_epoch_size(tmp_path):
    data, run = tmp_path / "data", tmp_path / "run"
    assert main(["collect", "two-paths", "--episodes", "3", "--out", str(data)]) == 0
    assert main(["fit", "bc", "--data", str(data), "--steps", "100", "--out", str(run), "--eval-episodes", "0",
                 "--set", "updates_per_step=10"]) == 0
    first = json.loads((run / "config.json").read_text())["config"]["updates_per_epoch"]
    assert main(["fit", "bc", "--data", str(data), "--steps", "300", "--out", str(run), "--eval-episodes", "0",
                 "--set", "updates_per_step=10"]) == 0
    saved = json.loads((run / "config.json").read_text())["config"]
    assert saved["steps"] == 300 and saved["updates_per_epoch"] == first == 10


def test_default_diffusion_fit_on_cpu_uses_the_measured_cpu_recipe(tmp_path, capsys):
    """A plain `fit diffusion` on 2-D actions without an accelerator gets the small U-Net and the
    CPU recipe; the user's own --set / --steps still win."""
    data, run = tmp_path / "data", tmp_path / "run"
    assert main(["collect", "two-paths", "--episodes", "3", "--out", str(data)]) == 0
    assert main(["fit", "diffusion", "--data", str(data), "--steps", "20", "--out", str(run), "--eval-episodes", "0",
                 "--accelerator", "cpu", "--set", "optim.warmup_steps=5", "--set", "updates_per_step=10"]) == 0
    config = json.loads((run / "config.json").read_text())["config"]
    assert config["policy"]["down_dims"] == [32, 64] and config["batch_size"] == 128 and config["optim"]["lr"] == 1e-3
    assert config["steps"] == 20 and config["optim"]["warmup_steps"] == 5  # the user's values
    assert "defaults for this data on this device" in capsys.readouterr().out
