"""Bit-identity check across a refactor: a short fixed-seed fit of every algorithm, hashed.

Each algorithm of ``genpolicy fit --help`` is fitted for a few hundred updates through the
command line (the one entry that exists on both sides of a refactor), and the SHA-256 of the
final checkpoint's full state dict (weights, targets, EMA copies, buffers) is printed. Run it
on two commits and compare the JSON files::

    .venv/bin/python benchmarks/regression_hashes.py --out runs/hashes-after.json
    git worktree add /tmp/before <commit> && (cd /tmp/before && ln -s /work/main/.venv .venv &&
        .venv/bin/python benchmarks/regression_hashes.py --out /tmp/hashes-before.json)
    .venv/bin/python benchmarks/regression_hashes.py --compare /tmp/hashes-before.json runs/hashes-after.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

# name -> fit arguments after the algorithm name (all short, fixed seeds)
CASES: dict[str, list[str]] = {
    "bc": ["--data", "pendulum", "--steps", "200"],
    "bc-gaussian": ["--data", "pendulum", "--steps", "200"],
    "bc-gmm": ["--data", "pendulum", "--steps", "200"],
    "diffusion": ["--data", "pendulum", "--steps", "60", "--set", "policy.down_dims=[32,64]"],
    "diffusion-mlp": ["--data", "pendulum", "--steps", "100"],
    "vae": ["--data", "pendulum", "--steps", "200"],
    "gpt": ["--data", "pendulum", "--steps", "100"],
    "dt": ["--data", "pendulum", "--steps", "100"],
    "iql": ["--data", "pendulum", "--steps", "200"],
    "cql": ["--data", "pendulum", "--steps", "200"],
    "td3bc": ["--data", "pendulum", "--steps", "200"],
    "diffusion-ql": ["--data", "pendulum", "--steps", "100"],
    "sac": ["--env", "Pendulum-v1", "--steps", "200", "--set", "warmup_steps=200"],
    "sac+data": ["--env", "Pendulum-v1", "--data", "pendulum", "--steps", "200", "--set", "warmup_steps=200"],
    "bro": ["--env", "Pendulum-v1", "--steps", "200", "--set", "warmup_steps=100", "--set", "critic.width=64",
            "--set", "critic.num_quantiles=10", "--set", "resets_at=[150]", "--set", "dormant_every=100"],
    "bro-fast": ["--env", "Pendulum-v1", "--steps", "200", "--set", "warmup_steps=100", "--set", "critic.width=64",
                 "--set", "critic.num_quantiles=10"],
}


def state_hash(checkpoint: Path) -> str:
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def run(cases: list[str], work: Path) -> dict[str, str]:
    from genpolicy.cli import main as cli

    hashes = {}
    for name in cases:
        algo = name.split("+")[0]
        out = work / name
        code = cli(["fit", algo, *CASES[name], "--out", str(out), "--eval-episodes", "0", "--restart"])
        if code != 0:
            raise SystemExit(f"{name}: fit exited {code}")
        hashes[name] = state_hash(out / "checkpoints" / "last.ckpt")
        print(f"{name:14s} {hashes[name][:16]}", flush=True)
    return hashes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="*", default=list(CASES))
    parser.add_argument("--out", default="runs/regression_hashes.json")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        before, after = (json.loads(Path(p).read_text()) for p in args.compare)
        same = 0
        for name in before:
            n = min(len(before[name]), len(after.get(name, "")))  # (a printed prefix is enough)
            verdict = "identical" if n >= 16 and after[name][:n] == before[name][:n] else "DIFFERENT"
            same += verdict == "identical"
            print(f"{name:14s} {verdict}")
        print(f"{same}/{len(before)} bit-identical")
        sys.exit(0 if same == len(before) else 1)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["GENPOLICY_DATA"] = str(Path(tmp) / "data")
        hashes = run(args.cases, Path(tmp))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(hashes, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
