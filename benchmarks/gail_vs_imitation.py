"""genpolicy's GAIL beside the `imitation` library's GAIL on the same expert data (Pendulum-v1).

Expert data: the ``pendulum`` task's scripted swing-up + LQR expert as genpolicy collects it
(``resolve_data("pendulum")``, i.e. ``genpolicy collect pendulum``), the first ``--demos``
episodes, every ``--subsample``-th transition (DAC's protocol, the same rows genpolicy's GAIL
keeps with ``expert_subsample``). The peer is given exactly those transitions, exported to an NPZ
and rebuilt there as an ``imitation.data.types.Transitions`` (``--peer-data full``: the whole
episodes as ``Trajectory`` objects instead).

* genpolicy: ``genpolicy.train("gail", ...)``, SAC learner, 64x64 networks, 1k random warm-up,
  replay ratio 1 (the settings of ``benchmarks/gail_study.py``);
* imitation: ``imitation.algorithms.adversarial.gail.GAIL`` with its documented generator, SB3's
  PPO (rl-zoo's tuned Pendulum-v1 hyperparameters: 4 envs x 1024 steps per round, gamma 0.9,
  gSDE, lr 1e-3, 10 epochs) and its ``BasicRewardNet`` with ``RunningNorm`` inputs;
  ``--peer-learner sac`` gives it SB3's SAC instead (same sizes as genpolicy's). It runs in its
  OWN venv (``--imitation-python``, or ``--make-imitation-venv DIR`` creates it: torch==2.13.0
  first, then ``imitation`` with torch pinned by a constraint; pip resolves the versions
  imitation pins), through `genpolicy.bench.run_peer_script`; never a genpolicy dependency.

Both are evaluated on the true reward every ``--eval-every`` env steps (genpolicy; the peer at
the end of each of its rounds, i.e. every 4096 env steps with PPO) with 5 deterministic episodes,
and stop at the first evaluation reaching 90 % of the expert (random + 0.9 (expert - random),
the level of docs/imitation.md) or at their env-step budget. Wall time is the training loop's,
evaluations excluded, one thread each. Writes ``OUT/<side>/seedN/result.json`` (resumable) and
``OUT/table.md``.

    .venv/bin/python benchmarks/gail_vs_imitation.py --make-imitation-venv /tmp/venv-imitation \
        --seeds 0 1 2 --out runs/gail_vs_imitation
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import lightning as L
import numpy as np

from genpolicy.bench import make_peer_venv, run_peer_script

TASK = "pendulum"
ENV_ID = "Pendulum-v1"
EVAL_EPISODES = 5
EVAL_SEED = 10_000

PEER_SCRIPT = r"""
import json, sys, time
import numpy as np, torch, gymnasium as gym
from imitation.algorithms.adversarial.gail import GAIL
from imitation.data.types import Trajectory, Transitions
from imitation.rewards.reward_nets import BasicRewardNet
from imitation.util.networks import RunningNorm
from imitation.util.util import make_vec_env
from stable_baselines3 import PPO, SAC

data_path, seed, max_steps, level, learner, data_kind, log_path, sac_every = sys.argv[1:9]
seed, max_steps, level, sac_every = int(seed), int(max_steps), float(level), int(sac_every)
torch.set_num_threads(1)
data = np.load(data_path)
if data_kind == "full":  # whole episodes as imitation's Trajectory objects (obs has one more row)
    demos = []
    for start, stop in data["bounds"]:
        obs = np.concatenate([data["obs"][start:stop], data["next_obs"][stop - 1:stop]])
        demos.append(Trajectory(obs=obs, acts=data["acts"][start:stop], infos=None, terminal=bool(data["dones"][stop - 1])))
    n_demo = int(sum(len(d.acts) for d in demos))
else:  # the subsampled transitions, exactly those genpolicy's GAIL keeps
    n_demo = len(data["acts"])
    demos = Transitions(obs=data["obs"], acts=data["acts"], infos=np.array([{}] * n_demo),
                        next_obs=data["next_obs"], dones=data["dones"])
rng = np.random.default_rng(seed)
if learner == "ppo":  # rl-zoo's tuned PPO for Pendulum-v1
    venv = make_vec_env("Pendulum-v1", rng=rng, n_envs=4)
    gen = PPO("MlpPolicy", venv, n_steps=1024, gae_lambda=0.95, gamma=0.9, n_epochs=10, ent_coef=0.0,
              learning_rate=1e-3, clip_range=0.2, use_sde=True, sde_sample_freq=4, batch_size=64, seed=seed,
              device="cpu")
    gen_steps, batch = None, min(n_demo, 1024)
else:  # SB3's SAC, genpolicy's sizes: 64x64, batch 256, 1k random steps, one update per env step
    venv = make_vec_env("Pendulum-v1", rng=rng, n_envs=1)
    gen = SAC("MlpPolicy", venv, policy_kwargs=dict(net_arch=[64, 64]), batch_size=256, learning_starts=1000,
              train_freq=1, gradient_steps=1, seed=seed, device="cpu")
    gen_steps, batch = sac_every, min(n_demo, 256)
reward_net = BasicRewardNet(venv.observation_space, venv.action_space, normalize_input_layer=RunningNorm)
trainer = GAIL(demonstrations=demos, demo_batch_size=batch, gen_replay_buffer_capacity=None,
               n_disc_updates_per_round=8, venv=venv, gen_algo=gen, reward_net=reward_net,
               gen_train_timesteps=gen_steps, allow_variable_horizon=False)
env = gym.make("Pendulum-v1")

def evaluate():
    returns = []
    for episode in range(5):
        obs, _ = env.reset(seed=10_000 + episode)
        done, total = False, 0.0
        while not done:
            action, _ = gen.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            total, done = total + float(reward), terminated or truncated
        returns.append(total)
    return float(np.mean(returns))

class Reached(Exception):
    pass

curve, clock = [], {"train": 0.0, "since": time.perf_counter()}
log = open(log_path, "a")

def callback(round_index):
    clock["train"] += time.perf_counter() - clock["since"]
    value = evaluate()
    curve.append({"env_steps": int(gen.num_timesteps), "return": value, "seconds": clock["train"]})
    print(json.dumps(curve[-1]), file=log, flush=True)
    clock["since"] = time.perf_counter()
    if value >= level:
        raise Reached

try:
    trainer.train(max_steps, callback=callback)
except Reached:
    pass
print(json.dumps({"curve": curve, "expert_transitions": n_demo, "gen_train_timesteps": trainer.gen_train_timesteps,
                  "demo_batch_size": batch, "learner": learner}))
"""


def make_imitation_venv(path: Path) -> Path:
    return make_peer_venv(path, ["imitation"])


def export_expert(expert, demos: int, subsample: int, path: Path) -> int:
    """The transitions genpolicy's GAIL keeps (``prepare_expert`` without absorbing states), as arrays."""
    from genpolicy.datasets.demonstrations import subsample_episodes

    chosen = expert.select_episodes(list(range(demos)))
    picked = subsample_episodes(chosen, subsample)
    full_bounds = chosen.episode_bounds().numpy()
    np.savez(path, obs=picked.observations.numpy(), acts=picked.actions.numpy(),
             next_obs=picked.next_observations.numpy(), dones=picked.terminations.numpy())
    full = path.with_name(path.stem + "_full.npz")
    np.savez(full, obs=chosen.observations.numpy(), acts=chosen.actions.numpy(),
             next_obs=chosen.next_observations.numpy(), dones=chosen.terminations.numpy(), bounds=full_bounds)
    return len(picked)


class EvalAndStop(L.Callback):
    """Every epoch (``eval_every`` env steps): evaluate on the true reward outside the clock, stop at ``level``."""

    def __init__(self, level: float, seed: int) -> None:
        self.level, self.seed, self.curve, self.train = level, seed, [], 0.0

    def on_train_start(self, trainer, algo) -> None:
        self.since = time.perf_counter()

    def on_train_epoch_end(self, trainer, algo) -> None:
        from genpolicy.evaluation import evaluate

        self.train += time.perf_counter() - self.since
        result = evaluate(algo.export_policy(), episodes=EVAL_EPISODES, seed=EVAL_SEED)
        self.curve.append({"env_steps": int(algo.env_steps), "return": float(result.mean_return), "seconds": self.train})
        print(f"  genpolicy {self.curve[-1]}", flush=True)
        if result.mean_return >= self.level:
            trainer.should_stop = True
        self.since = time.perf_counter()


def run_genpolicy(args: argparse.Namespace, seed: int, expert, level: float, out: Path) -> dict:
    import genpolicy

    hidden = [args.hidden, args.hidden]
    values = {"seed": seed, "warmup_steps": args.warmup, "expert_episodes": args.demos,
              "expert_subsample": args.subsample, "actor.hidden_dims": hidden, "critic.hidden_dims": hidden,
              "discriminator.hidden_dims": hidden, "updates_per_epoch": args.eval_every, "snapshot_every": 0,
              "log_every": 1000}
    from genpolicy.trainers.runner import TrainingStopped

    clock = EvalAndStop(level, seed)
    try:
        genpolicy.train("gail", data=expert, env=TASK, out=out, steps=args.env_steps - args.warmup, overrides=values,
                        eval_episodes=0, callbacks=[clock], restart=True, verbose=False, progress_bar=False,
                        accelerator="cpu")
    except TrainingStopped:  # our own stop at the 90 % level (checkpointed there)
        pass
    return {"curve": clock.curve, "learner": "sac"}


def first_reach(curve: list[dict], level: float) -> dict | None:
    return next((p for p in curve if p["return"] >= level), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demos", type=int, default=4)
    parser.add_argument("--subsample", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--sides", nargs="+", default=["genpolicy", "imitation"], choices=["genpolicy", "imitation"])
    parser.add_argument("--env-steps", type=int, default=15_000, help="genpolicy: env-step budget")
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--eval-every", type=int, default=500, help="genpolicy: env steps between evaluations")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--peer-env-steps", type=int, default=300_000, help="imitation: env-step budget")
    parser.add_argument("--peer-learner", default="ppo", choices=["ppo", "sac"])
    parser.add_argument("--peer-data", default="subsampled", choices=["subsampled", "full"])
    parser.add_argument("--peer-sac-round", type=int, default=500, help="imitation + SAC: env steps per round")
    parser.add_argument("--imitation-python", help="python of a venv with imitation")
    parser.add_argument("--make-imitation-venv", metavar="DIR", help="create that venv first (torch==2.13.0 pinned)")
    parser.add_argument("--out", default="runs/gail_vs_imitation")
    args = parser.parse_args()

    from genpolicy.datasets.resolve import resolve_data
    from genpolicy.tasks import TASKS
    from genpolicy.trainers.runner import limit_threads

    threads = limit_threads()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    expert = resolve_data(TASK, episodes=max(args.demos, 20), seed=0)
    expert_return = float(expert.episode_returns().mean())
    random_return = float(TASKS[TASK].ref_min_score)
    level = random_return + 0.9 * (expert_return - random_return)
    data_path = out / f"expert_{args.demos}demos_every{args.subsample}.npz"
    transitions = export_expert(expert, args.demos, args.subsample, data_path)
    print(f"expert {expert_return:.1f}, random {random_return:.1f}, 90 % level {level:.1f}; "
          f"{args.demos} demos every {args.subsample}th step = {transitions} transitions; {threads} thread(s)", flush=True)

    python = None
    if "imitation" in args.sides:
        python = (Path(args.imitation_python) if args.imitation_python
                  else make_imitation_venv(Path(args.make_imitation_venv)) if args.make_imitation_venv else None)
        if python is None:
            raise SystemExit("the imitation side needs --imitation-python or --make-imitation-venv")
    peer_tag = f"imitation-{args.peer_learner}-{args.peer_data}"
    results: dict[str, list[dict]] = {}
    for side in args.sides:
        tag = "genpolicy-sac" if side == "genpolicy" else peer_tag
        for seed in args.seeds:
            where = out / tag / f"seed{seed}"
            file = where / "result.json"
            if not file.exists():
                where.mkdir(parents=True, exist_ok=True)
                start = time.perf_counter()
                if side == "genpolicy":
                    result = run_genpolicy(args, seed, expert, level, where / "run")
                else:
                    npz = data_path if args.peer_data == "subsampled" else data_path.with_name(data_path.stem + "_full.npz")
                    result = run_peer_script(python, PEER_SCRIPT, [npz.resolve(), seed, args.peer_env_steps, level,
                                                                   args.peer_learner, args.peer_data,
                                                                   (where / "progress.jsonl").resolve(),
                                                                   args.peer_sac_round])
                    if result is None:
                        raise SystemExit(f"the imitation run failed (seed {seed})")
                result.update(seed=seed, process_seconds=time.perf_counter() - start, level=level)
                file.write_text(json.dumps(result, indent=2))
            result = json.loads(file.read_text())
            hit = first_reach(result["curve"], level)
            print(f"{tag} seed {seed}: " + (f"90 % at {hit['env_steps']} env steps, {hit['seconds']:.0f} s"
                                            if hit else f"not reached in {result['curve'][-1]['env_steps']} env steps"),
                  flush=True)
            results.setdefault(tag, []).append(result)

    for file in sorted(out.glob("*/seed*/result.json")):  # the table shows every side measured into OUT
        tag = file.parent.parent.name
        if int(file.parent.name[4:]) not in [r["seed"] for r in results.get(tag, [])]:
            results.setdefault(tag, []).append(json.loads(file.read_text()))
    lines = [f"Pendulum-v1, the `pendulum` expert's first {args.demos} episodes every {args.subsample}th step "
             f"({transitions} transitions); expert {expert_return:.1f}, random {random_return:.1f}, 90 % level "
             f"{level:.1f}. Wall time: training loop, evaluations excluded, one thread. "
             "imitation: PPO 4 envs x 1024 steps per round (evaluated per round), SAC 500 env steps per round.", "",
             "| library (learner) | seeds | env steps to 90 % (per seed) | wall s to 90 % (per seed) | return there |",
             "|---|---|---|---|---|"]
    for tag, rs in results.items():
        hits = [first_reach(r["curve"], level) for r in rs]
        steps = ", ".join(str(h["env_steps"]) if h else f"> {r['curve'][-1]['env_steps']}" for h, r in zip(hits, rs))
        secs = ", ".join(f"{h['seconds']:.0f}" if h else f"> {r['curve'][-1]['seconds']:.0f}" for h, r in zip(hits, rs))
        rets = ", ".join(f"{h['return']:.0f}" if h else f"{max(p['return'] for p in r['curve']):.0f} (best)"
                         for h, r in zip(hits, rs))
        lines.append(f"| {tag} | {len(rs)} | {steps} | {secs} | {rets} |")
    text = "\n".join(lines) + "\n"
    (out / "table.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
