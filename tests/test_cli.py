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
    assert main(["fit", "bc-gmm", "--data", str(data), "--steps", "200", "--out", str(run), "--set", "pred_horizon=4",
                 "--set", "action_horizon=2", "--eval-episodes", "2", "--eval-every", "1"]) == 0
    assert (run / "policy/model.safetensors").exists() and (run / "checkpoints/last.ckpt").exists()
    saved = json.loads((run / "config.json").read_text())
    assert saved["config"]["pred_horizon"] == 4 and saved["config"]["steps"] == 200
    assert json.loads((run / "eval_history.json").read_text())[-1]["updates"] == 200
    assert main(["evaluate", str(run), "--episodes", "3", "--num-envs", "2"]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert len(result["returns"]) == 3
    assert main(["sample", str(run), "--num", "8", "--rollouts", "2", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 10_000
    # Running fit again resumes the finished run instead of starting over.
    assert main(["fit", "bc-gmm", "--data", str(data), "--steps", "200", "--out", str(run), "--set", "pred_horizon=4",
                 "--set", "action_horizon=2", "--eval-episodes", "0"]) == 0
    assert json.loads((run / "config.json").read_text())["config"]["steps"] == 200


def test_fit_on_task_name_collects_and_caches(tmp_path):
    run = tmp_path / "run"
    assert main(["fit", "bc", "--data", "two-paths", "--episodes", "3", "--steps", "40", "--out", str(run), "--eval-episodes", "0"]) == 0
    assert any((tmp_path / "cache").iterdir())


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fit", "bc", "--data", "/no/such/file.hdf5"], "/no/such/file.hdf5"),
        (["fit", "nope", "--data", "two-paths"], "unknown algorithm 'nope'"),
        (["fit", "bc", "--data", "two-paths", "--set", "bogus=1"], "unknown config key(s) ['bogus']"),
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
    config = config_class(**{**variant, **overrides, "steps": steps})
    algo = algo_class(config, make_dataset(obs_dim=2, act_dim=2))
    assert algo.export_policy().config.act_dim == 2
