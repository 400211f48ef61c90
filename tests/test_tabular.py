"""genpolicy.tabular: exact DP against linear solves and brute force, MaxEnt IRL, the irl command.

Everything here is numpy on tiny MDPs; the whole file runs in a few seconds on one core."""

from __future__ import annotations

import itertools
import json
from fractions import Fraction

import numpy as np
import pytest

from genpolicy.tabular import (
    expected_reward,
    from_gymnasium,
    gridworld,
    maxent_irl,
    policy_evaluation,
    policy_iteration,
    sample_trajectories,
    soft_value_iteration,
    state_action_visitation,
    state_visitation,
    value_iteration,
)
from genpolicy.tabular.experiments import policy_agreement, unique_best


def random_mdp(S: int, A: int, seed: int, branch: int | None = None):
    """Random ``P[s, a, s']`` (Dirichlet rows, optionally on ``branch`` random successors),
    ``R[s, a, s']`` and ``p0``."""
    rng = np.random.default_rng(seed)
    P = np.zeros((S, A, S))
    for s, a in itertools.product(range(S), range(A)):
        succ = rng.choice(S, branch or S, replace=False)
        P[s, a, succ] = rng.dirichlet(np.ones(len(succ)))
    return P, rng.normal(size=(S, A, S)), rng.dirichlet(np.ones(S)), rng


def random_policy(rng, S, A, H=None):
    shape = (S, A) if H is None else (H, S, A)
    return rng.dirichlet(np.ones(A), size=shape[:-1])


def all_deterministic_values(P, r, gamma):
    """V of every deterministic stationary policy, each by its own linear solve: ``[A^S, S]``."""
    S, A = r.shape
    values = []
    for actions in itertools.product(range(A), repeat=S):
        P_pi = P[np.arange(S), actions]
        values.append(np.linalg.solve(np.eye(S) - gamma * P_pi, r[np.arange(S), actions]))
    return np.array(values)


# ------------------------------------------------------------------ evaluation and control
@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.95])
def test_policy_evaluation_matches_the_state_action_linear_system(gamma):
    P, R, _, rng = random_mdp(6, 3, seed=1)
    policy = random_policy(rng, 6, 3)
    V, Q = policy_evaluation(P, R, policy, gamma)
    # Independent check: Q solves (I - gamma P Pi) Q = r on the 18 state-action pairs.
    r = np.einsum("sat,sat->sa", P, R).reshape(-1)
    P_Pi = np.einsum("sat,tb->satb", P, policy).reshape(18, 18)
    Q_direct = np.linalg.solve(np.eye(18) - gamma * P_Pi, r).reshape(6, 3)
    np.testing.assert_allclose(Q, Q_direct, atol=1e-10)
    np.testing.assert_allclose(V, (policy * Q_direct).sum(1), atol=1e-10)
    V_it, Q_it = policy_evaluation(P, R, policy, gamma, method="iterative")
    np.testing.assert_allclose(V_it, V, atol=1e-9)


def test_finite_horizon_evaluation_matches_brute_force_enumeration():
    """Tiny MDP, H = 3: sum over all (s, a) paths of probability x reward."""
    P, R, p0, rng = random_mdp(3, 2, seed=2)
    H = 3
    policy = random_policy(rng, 3, 2, H)
    r = expected_reward(P, R)
    total = 0.0
    for path in itertools.product(range(3), range(2), repeat=H):
        prob, ret = 1.0, 0.0
        states, actions = path[0::2], path[1::2]
        for t in range(H):
            s, a = states[t], actions[t]
            prob *= (p0[s] if t == 0 else P[states[t - 1], actions[t - 1], s]) * policy[t, s, a]
            ret += r[s, a]
        total += prob * ret
    V, Q = policy_evaluation(P, R, policy, horizon=H)
    assert V.shape == (H, 3) and Q.shape == (H, 3, 2)
    assert p0 @ V[0] == pytest.approx(total, abs=1e-12)
    D = state_action_visitation(P, policy, p0, horizon=H)
    assert (D * r).sum() == pytest.approx(total, abs=1e-12)


@pytest.mark.parametrize("gamma", [0.3, 0.9, 0.99])
def test_value_and_policy_iteration_match_enumeration_of_deterministic_policies(gamma):
    P, R, _, _ = random_mdp(5, 3, seed=3, branch=3)
    r = expected_reward(P, R)
    V_star = all_deterministic_values(P, r, gamma).max(axis=0)  # the optimal policy dominates all
    for V, Q, policy in (value_iteration(P, R, gamma, tol=1e-11), policy_iteration(P, R, gamma)):
        np.testing.assert_allclose(V, V_star, atol=1e-8)
        np.testing.assert_allclose(Q, r + gamma * P @ V_star, atol=1e-8)
        assert set(np.unique(policy)) <= {0.0, 1.0} and np.allclose(policy.sum(1), 1)
        np.testing.assert_allclose(policy_evaluation(P, R, policy, gamma)[0], V_star, atol=1e-8)


def test_finite_horizon_value_iteration_matches_enumeration_of_time_indexed_policies():
    P, R, _, _ = random_mdp(3, 2, seed=4)
    r = expected_reward(P, R)
    H = 3
    V, _, policy = value_iteration(P, R, horizon=H)
    best = np.full(3, -np.inf)
    for choice in itertools.product(range(2), repeat=3 * H):  # all 2^9 deterministic [H, S] policies
        pi = np.eye(2)[np.array(choice).reshape(H, 3)]
        best = np.maximum(best, policy_evaluation(P, R, pi, horizon=H)[0][0])
    np.testing.assert_allclose(V[0], best, atol=1e-12)
    np.testing.assert_allclose(policy_evaluation(P, R, policy, horizon=H)[0], V, atol=1e-12)
    assert policy.shape == (H, 3, 2)


def test_worked_three_state_example_by_hand():
    """Our own worked example (the course notes' 3-state example is not available to us).

    States 0, 1, 2; action 0 "stay", action 1 "go"; gamma = 4/5.
      P[0,0] = (1/2, 1/2, 0)  R[0,0] = 0     P[0,1] = (0, 1/2, 1/2)  R[0,1] = -1
      P[1,0] = (1, 0, 0)      R[1,0] = 1     P[1,1] = (0, 1/4, 3/4)  R[1,1] = 0
      P[2,0] = (0, 0, 1)      R[2,0] = 2     P[2,1] = (1/2, 0, 1/2)  R[2,1] = 0
    Policy pi = (1/2, 1/2), (1/4, 3/4), (1, 0).

    Under pi: V2 = 2 + 4/5 V2 = 10. V1 = 1/4 (1 + 4/5 V0) + 3/4 (4/5 (1/4 V1 + 3/4 V2)), and
    V0 = 1/2 (4/5 (V0 + V1)/2) + 1/2 (-1 + 4/5 (V1 + V2)/2); solving the two equations with
    V2 = 10 gives V0 = 127/24, V1 = 41/6. Then Q = R + 4/5 P V:
      Q[0] = (97/20, 86/15), Q[1] = (157/30, 221/30), Q[2] = (10, 367/60);
      advantages Q - V: (-53/120, 53/120), (-8/5, 8/15), (0, -233/60).
    Optimal: enumerating the 8 deterministic policies (fractions), (go, go, stay) dominates:
      V*2 = 2 / (1 - 4/5) = 10; V*1 = 4/5 (V*1/4 + 30/4) => V*1 = 15/2;
      V*0 = -1 + 4/5 (15/2 + 10)/2 = 6.
      Q*[0] = (4/5 (6 + 15/2)/2, 6) = (27/5, 6); Q*[1] = (1 + 4/5 * 6, 15/2) = (29/5, 15/2);
      Q*[2] = (10, 4/5 (6 + 10)/2) = (10, 32/5); pi* = (go, go, stay).
    """
    f = Fraction
    P = np.array([[[1 / 2, 1 / 2, 0], [0, 1 / 2, 1 / 2]], [[1, 0, 0], [0, 1 / 4, 3 / 4]], [[0, 0, 1], [1 / 2, 0, 1 / 2]]])
    R = np.array([[0, -1], [1, 0], [2, 0]], dtype=float)
    policy = np.array([[1 / 2, 1 / 2], [1 / 4, 3 / 4], [1, 0]])
    as_float = lambda rows: np.array([[float(x) for x in row] for row in rows])  # noqa: E731
    V_hand = np.array([float(f(127, 24)), float(f(41, 6)), 10.0])
    Q_hand = as_float([[f(97, 20), f(86, 15)], [f(157, 30), f(221, 30)], [f(10), f(367, 60)]])
    A_hand = as_float([[f(-53, 120), f(53, 120)], [f(-8, 5), f(8, 15)], [f(0), f(-233, 60)]])
    V, Q = policy_evaluation(P, R, policy, 0.8)
    np.testing.assert_allclose(V, V_hand, atol=1e-12)
    np.testing.assert_allclose(Q, Q_hand, atol=1e-12)
    np.testing.assert_allclose(Q - V[:, None], A_hand, atol=1e-12)
    V_star_hand = np.array([6.0, 7.5, 10.0])
    Q_star_hand = as_float([[f(27, 5), f(6)], [f(29, 5), f(15, 2)], [f(10), f(32, 5)]])
    for V_star, Q_star, pi_star in (value_iteration(P, R, 0.8, tol=1e-13), policy_iteration(P, R, 0.8)):
        np.testing.assert_allclose(V_star, V_star_hand, atol=1e-12)
        np.testing.assert_allclose(Q_star, Q_star_hand, atol=1e-12)
        np.testing.assert_array_equal(pi_star, np.eye(2)[[1, 1, 0]])


# ------------------------------------------------------------------ soft values and visitation
@pytest.mark.parametrize("gamma,temperature", [(0.5, 1.0), (0.9, 0.3), (0.99, 2.0)])
def test_soft_value_iteration_is_the_soft_bellman_fixed_point(gamma, temperature):
    P, R, _, _ = random_mdp(6, 3, seed=5, branch=3)
    r = expected_reward(P, R)
    V, Q, policy = soft_value_iteration(P, R, gamma=gamma, temperature=temperature)
    np.testing.assert_allclose(Q, r + gamma * P @ V, atol=1e-8)
    m = Q.max(1)
    np.testing.assert_allclose(V, m + temperature * np.log(np.exp((Q - m[:, None]) / temperature).sum(1)), atol=1e-8)
    np.testing.assert_allclose(policy, np.exp((Q - V[:, None]) / temperature), atol=1e-8)
    V_fp, _, _ = soft_value_iteration(P, R, gamma=gamma, temperature=temperature, method="fixed-point")
    np.testing.assert_allclose(V_fp, V, atol=1e-8)
    # The soft value is the policy's return with an entropy bonus: r - temperature * log pi.
    V_pi, _ = policy_evaluation(P, r - temperature * np.log(policy), policy, gamma)
    np.testing.assert_allclose(V_pi, V, atol=1e-8)
    # Low temperature -> the hard optimum.
    V_cold, _, _ = soft_value_iteration(P, R, gamma=gamma, temperature=1e-4)
    np.testing.assert_allclose(V_cold, value_iteration(P, R, gamma)[0], atol=1e-3 / (1 - gamma))


def test_finite_horizon_soft_value_iteration():
    P, R, p0, _ = random_mdp(4, 3, seed=6)
    r = expected_reward(P, R)
    H = 7
    V, Q, policy = soft_value_iteration(P, R, horizon=H)
    assert V.shape == (H, 4) and policy.shape == (H, 4, 3)
    next_V = np.vstack([V[1:], np.zeros((1, 4))])  # V_H = 0
    np.testing.assert_allclose(Q, r + np.einsum("sat,ht->hsa", P, next_V), atol=1e-12)
    np.testing.assert_allclose(V, np.log(np.exp(Q).sum(-1)), atol=1e-12)
    value = np.zeros(4)  # the policy's return plus its entropy, backward from V_H = 0
    for t in reversed(range(H)):
        value = np.sum(policy[t] * (r - np.log(policy[t]) + P @ value), axis=1)
        np.testing.assert_allclose(value, V[t], atol=1e-10)


def test_visitation_normalization_and_returns():
    P, R, p0, rng = random_mdp(5, 2, seed=7)
    r = expected_reward(P, R)
    policy = random_policy(rng, 5, 2)
    for gamma in (0.0, 0.7, 0.99):
        D = state_action_visitation(P, policy, p0, gamma=gamma)
        assert D.sum() == pytest.approx(1 / (1 - gamma), rel=1e-10)
        assert (D * r).sum() == pytest.approx(p0 @ policy_evaluation(P, R, policy, gamma)[0], rel=1e-10)
        np.testing.assert_allclose(state_visitation(P, policy, p0, gamma=gamma), D.sum(1))
    D = state_action_visitation(P, random_policy(rng, 5, 2, 12), p0, horizon=12)
    assert D.sum() == pytest.approx(12, rel=1e-12)
    # Sampled trajectories converge to the exact visitation.
    trajectories = sample_trajectories(P, policy, p0, 4000, 12, seed=0)
    counts = np.zeros((5, 2))
    np.add.at(counts, (trajectories[..., 0], trajectories[..., 1]), 1 / 4000)
    np.testing.assert_allclose(counts, state_action_visitation(P, policy, p0, horizon=12), atol=0.12)


# ------------------------------------------------------------------ errors
def test_one_line_errors_name_the_problem():
    P, R, p0, rng = random_mdp(3, 2, seed=8)
    bad = P.copy()
    bad[1, 0, 0] += 0.1
    with pytest.raises(ValueError, match=r"P\[s=1, a=0, :\] sums to 1.1"):
        value_iteration(bad, R, 0.9)
    with pytest.raises(ValueError, match=r"R has shape \(4,\) but P has shape \(3, 2, 3\)"):
        value_iteration(P, np.zeros(4), 0.9)
    with pytest.raises(ValueError, match=r"policy has shape \(2, 3\) but P has shape \(3, 2, 3\)"):
        policy_evaluation(P, R, np.full((2, 3), 1 / 3), 0.9)
    with pytest.raises(ValueError, match=r"policy\[s=2, :\] sums to"):
        policy_evaluation(P, R, np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.6]]), 0.9)
    for gamma in (1.0, -0.1):
        with pytest.raises(ValueError, match=r"gamma must be in \[0, 1\)"):
            soft_value_iteration(P, R, gamma=gamma)
    with pytest.raises(ValueError, match="exactly one of gamma .* got neither"):
        soft_value_iteration(P, R)
    with pytest.raises(ValueError, match="exactly one of gamma .* got both"):
        state_visitation(P, np.full((3, 2), 0.5), p0, gamma=0.9, horizon=5)
    with pytest.raises(ValueError, match=r"features have shape \(3, 2, 4\)"):
        maxent_irl(P, np.zeros((3, 2, 4)), np.ones(3), p0, horizon=1)
    with pytest.raises(ValueError, match="expert visitation sums to 3; expected 5"):
        maxent_irl(P, None, np.ones(3), p0, horizon=5)
    with pytest.raises(ValueError) as error:
        value_iteration(bad, R, 0.9)
    assert "\n" not in str(error.value)  # one line


# ------------------------------------------------------------------ gymnasium models
def test_from_gymnasium_frozenlake_matches_simulation():
    gym = pytest.importorskip("gymnasium")
    env = gym.make("FrozenLake-v1")
    mdp = from_gymnasium(env)
    assert mdp.P.shape == (16, 4, 16) and mdp.shape == (4, 4) and mdp.p0[0] == 1.0
    terminal = np.flatnonzero(mdp.terminal)
    np.testing.assert_array_equal(terminal, [5, 7, 11, 12, 15])  # holes and goal: absorbing, reward 0
    assert np.all(mdp.P[terminal, :, terminal] == 1) and np.all(mdp.R[terminal] == 0)
    V, _, policy = value_iteration(mdp.P, mdp.R, gamma=0.99)  # "solve FrozenLake exactly"
    # Exact success probability within the env's 100-step limit vs the simulator.
    V100, _ = policy_evaluation(mdp.P, mdp.R, policy, horizon=100)
    actions = policy.argmax(1)
    wins, episodes = 0.0, 600
    for episode in range(episodes):
        obs, _ = env.reset(seed=episode)
        done = False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(int(actions[obs]))
            wins += reward
            done = terminated or truncated
    exact = V100[0, 0]
    assert 0.7 < exact < 0.8
    assert abs(wins / episodes - exact) < 4 * np.sqrt(exact * (1 - exact) / episodes)
    cliff = from_gymnasium(gym.make("CliffWalking-v1"))
    assert cliff.terminal.sum() == 1 and cliff.terminal[47]
    assert value_iteration(cliff.P, cliff.R, 0.999)[0][36] == pytest.approx(-sum(0.999 ** t for t in range(13)), abs=1e-6)


# ------------------------------------------------------------------ MaxEnt IRL
def five_state_mdp():
    """The case imitation's MCE IRL tests: 5 states, random sparse transitions, horizon 20."""
    P, _, p0, rng = random_mdp(5, 3, seed=9, branch=2)
    return P, rng.normal(size=5), p0


def test_maxent_irl_matches_occupancy_finite_horizon():
    P, true_reward, p0 = five_state_mdp()
    _, _, expert = soft_value_iteration(P, true_reward, horizon=20)
    D_expert = state_visitation(P, expert, p0, horizon=20)
    result = maxent_irl(P, None, D_expert, p0, horizon=20)
    assert result.converged and result.iterations < 200
    assert np.max(np.abs(result.visitation - D_expert)) < 1e-3
    assert result.visitation.sum() == pytest.approx(20)
    assert result.reward.shape == (5,) and result.policy.shape == (20, 5, 3)
    # A state reward is identified up to a constant: the true one comes back.
    np.testing.assert_allclose(result.reward - result.reward.mean(), true_reward - true_reward.mean(), atol=1e-5)
    assert np.all(np.diff(result.loss) <= 1e-12)  # the line search only accepts descent
    # From demonstrations: the recovered occupancy matches the demos' empirical one.
    demos = sample_trajectories(P, expert, p0, 300, 20, seed=1)
    from_demos = maxent_irl(P, None, demos, horizon=20)
    assert from_demos.converged and from_demos.visitation_gap < 1e-3 and from_demos.nll > 0
    # And state-action rewards: the [S, A] occupancy is matched.
    D_sa = state_action_visitation(P, expert, p0, horizon=20)
    sa = maxent_irl(P, None, D_sa, p0, horizon=20, state_only=False)
    assert sa.reward.shape == (5, 3) and np.max(np.abs(sa.visitation - D_sa)) < 1e-6


def test_maxent_irl_discounted_state_action_and_features():
    P, true_reward, p0 = five_state_mdp()
    _, _, expert = soft_value_iteration(P, true_reward, gamma=0.9)
    D_sa = state_action_visitation(P, expert, p0, gamma=0.9)
    sa = maxent_irl(P, None, D_sa, p0, gamma=0.9, state_only=False)
    assert sa.converged and np.max(np.abs(sa.visitation - D_sa)) < 1e-6
    np.testing.assert_allclose(sa.policy[D_sa.sum(1) > 1e-3], expert[D_sa.sum(1) > 1e-3], atol=1e-5)
    # Linear features [S, F] whose span holds the true reward.
    rng = np.random.default_rng(0)
    features = np.column_stack([true_reward + 0.3, rng.normal(size=5), np.ones(5)])
    result = maxent_irl(P, features, D_sa.sum(1), p0, gamma=0.9)
    assert result.converged and result.visitation_gap < 1e-6 and result.weights.shape == (3,)
    np.testing.assert_allclose(result.reward - result.reward.mean(), true_reward - true_reward.mean(), atol=1e-5)


def test_maxent_irl_gridworld_recovers_the_experts_optimal_actions():
    mdp = gridworld(slip=0.1)
    _, _, expert = soft_value_iteration(mdp.P, mdp.R, gamma=0.9)
    D = state_visitation(mdp.P, expert, mdp.p0, gamma=0.9)
    result = maxent_irl(mdp.P, None, D, mdp.p0, gamma=0.9)
    assert result.converged and result.visitation_gap < 1e-6
    fraction, unique, wrong, ratio = policy_agreement(mdp.P, mdp.R, result.reward, 0.9)
    assert unique >= 30 and wrong == [] and fraction == 1.0 and ratio == pytest.approx(1.0)
    _, Q_true, _ = value_iteration(mdp.P, mdp.R, 0.9)
    _, _, recovered = value_iteration(mdp.P, result.reward, 0.9)
    unique_states = unique_best(Q_true)
    np.testing.assert_array_equal(recovered.argmax(1)[unique_states], Q_true.argmax(1)[unique_states])
    assert np.corrcoef(result.reward, mdp.R)[0, 1] > 0.9999


# ------------------------------------------------------------------ the irl command
def test_irl_command_writes_figure_and_numbers(tmp_path):
    import argparse

    from genpolicy.tabular.command import add_irl_parser

    parser = argparse.ArgumentParser()
    add_irl_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["irl", "frozenlake", "--out", str(tmp_path), "--demos", "100"])
    args.func(args)
    numbers = json.loads((tmp_path / "irl-frozenlake.json").read_text())
    assert (tmp_path / "irl-frozenlake.png").stat().st_size > 10_000
    assert numbers["converged"] and numbers["unique_states"] > 0


def test_genpolicy_irl_gridworld_through_cli_main(tmp_path, capsys):
    from genpolicy.cli import main

    out = tmp_path / "irl"
    assert main(["irl", "gridworld", "--out", str(out), "--size", "4", "--demos", "0"]) == 0
    numbers = json.loads((out / "irl-gridworld.json").read_text())
    assert (out / "irl-gridworld.png").stat().st_size > 10_000
    assert numbers["policy_agreement"] == 1.0 and numbers["reward_correlation"] > 0.999
    assert "reward correlation" in capsys.readouterr().out
    assert main(["irl", "gridworld", "--out", str(out), "--size", "2"]) == 2
    assert "genpolicy: error: --size must be at least 3" in capsys.readouterr().err
