#!/usr/bin/env bash
# PointMaze-Medium from scripted demonstrations: diffusion and transformer (GPT-GMM) policies.
#
# 3000 episodes of the waypoint + PD expert (action noise 0.1, random start and goal cells),
# then each policy is trained with the Lightning trainer and evaluated on 100 episodes
# (reset seeds 10000..10099, 8 vector envs). Runs are resumable: a second call re-evaluates.
# About 25 min per policy on 2 CPU cores (one torch thread each, so both can run at once).
#
#   bash benchmarks/pointmaze_medium.sh [OUT=runs/maze]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/maze}
GP=.venv/bin/genpolicy
export GENPOLICY_THREADS=${GENPOLICY_THREADS:-1}

[ -d "$OUT/data3k" ] || $GP collect pointmaze-medium --episodes 3000 --noise 0.1 --seed 0 --out "$OUT/data3k"

$GP fit diffusion --data "$OUT/data3k" --steps 15000 --out "$OUT/diffusion" \
  --set down_dims=[32,64] --set batch_size=128 --set lr=1e-3 --set lr_warmup_steps=200 \
  --set updates_per_step=50 --set updates_per_epoch=2500 --eval-episodes 20 --eval-every 2
$GP fit gpt --data "$OUT/data3k" --steps 20000 --out "$OUT/gpt-large" \
  --set obs_horizon=2 --set n_embd=128 --set n_layer=4 --set dropout=0.0 --set batch_size=256 \
  --set updates_per_step=50 --set updates_per_epoch=2500 --eval-episodes 20 --eval-every 2

for run in diffusion gpt-large; do
  $GP evaluate "$OUT/$run" --episodes 100 --seed 10000 --num-envs 8
done
