"""Dormant neurons (Sokar et al., 2023, "ReDo"): measure them, and recycle them.

A neuron's score is its mean |activation| over a batch divided by the mean of that over its
layer; a neuron whose score is at most ``tau`` is tau-dormant (tau = 0: it never fires).
Networks that train on shifting targets (critics, high replay ratios) lose neurons this way,
which is one face of the lost plasticity that resets (BRO) and recycling (ReDo) address.

Activations are read with forward hooks on the activation modules (ReLU, Mish, ...), so any
network built from ``nn.Module`` activations is measured without changes. Ensemble layers
(``[E, B, H]`` activations) score each member's neurons separately.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from genpolicy.models.critics import BroBlock, EnsembleCritic, EnsembleLayerNorm, EnsembleLinear

ACTIVATIONS = (nn.ReLU, nn.Mish, nn.GELU, nn.SiLU, nn.ELU, nn.LeakyReLU, nn.Tanh)


def neuron_scores(activation: torch.Tensor) -> torch.Tensor:
    """``[..., B, H]`` activations -> ``[..., H]`` normalized scores (mean over the layer = 1)."""
    mean_abs = activation.abs().mean(-2)
    return mean_abs / mean_abs.mean(-1, keepdim=True).clamp(min=1e-9)


@torch.no_grad()
def layer_scores(module: nn.Module, forward: Callable[[], Any]) -> dict[str, torch.Tensor]:
    """Run ``forward()`` and return the scores of every activation layer inside ``module``.

    Activations of 2-D inputs ``[B, H]`` give ``[H]``; of ensembles ``[E, B, H]`` give
    ``[E, H]``; sequences ``[B, T, H]`` are flattened over time first.
    """
    scores: dict[str, torch.Tensor] = {}
    hooks = []
    for name, child in module.named_modules():
        if isinstance(child, ACTIVATIONS):
            def hook(_module, _inputs, output, name=name):
                out = output
                if not isinstance(module, EnsembleCritic) and out.ndim > 2:
                    out = out.reshape(-1, out.shape[-1])
                scores[name] = neuron_scores(out.float())
            hooks.append(child.register_forward_hook(hook))
    was_training = module.training
    module.eval()
    try:
        forward()
    finally:
        for handle in hooks:
            handle.remove()
        module.train(was_training)
    return scores


def dormant_fraction(scores: dict[str, torch.Tensor], tau: float = 0.0) -> float:
    """Fraction of all measured neurons whose score is <= ``tau``."""
    if not scores:
        return 0.0
    dormant = sum(int((s <= tau).sum()) for s in scores.values())
    total = sum(s.numel() for s in scores.values())
    return dormant / total


@torch.no_grad()
def recycle_dormant(critic: EnsembleCritic, forward: Callable[[], Any], tau: float = 0.025) -> int:
    """ReDo for ensemble critics: re-initialize the incoming weights of tau-dormant neurons and
    zero their outgoing weights, so they start firing again without changing the network's
    output. Recycles neurons whose output feeds only the next layer: the MLP trunk's hidden
    layers and the inner layer of each BroNet block (the residual stream is left alone).
    Returns how many neurons were recycled. The optimizer moments of the touched weights are
    left as they are (ReDo resets them; the next reset-free steps wash them out quickly)."""
    scores = layer_scores(critic, forward)
    recycled = 0
    for incoming, outgoing, norm, name in _recyclable_layers(critic):
        dormant = scores[name] <= tau  # [E, H]
        if not bool(dormant.any()):
            continue
        fresh = EnsembleLinear(incoming.members, incoming.in_features, incoming.out_features).to(incoming.weight.device)
        mask = dormant[:, None, :]  # over [E, in, H]
        incoming.weight.copy_(torch.where(mask, fresh.weight, incoming.weight))
        incoming.bias.copy_(torch.where(dormant[:, None, :], fresh.bias, incoming.bias))
        if norm is not None:
            norm.weight.copy_(torch.where(dormant[:, None, :], torch.ones_like(norm.weight), norm.weight))
            norm.bias.copy_(torch.where(dormant[:, None, :], torch.zeros_like(norm.bias), norm.bias))
        outgoing.weight.masked_fill_(dormant[:, :, None], 0.0)  # [E, H, out]
        recycled += int(dormant.sum())
    return recycled


def _recyclable_layers(critic: EnsembleCritic):
    """``(incoming linear, outgoing linear, layer norm or None, activation name)`` quadruples."""
    trunk = list(critic.trunk.named_children())
    if critic.config.arch == "bronet":
        for name, block in trunk:
            if isinstance(block, BroBlock):
                first, norm, _act, second, _ = block.net
                yield first, second, norm, f"trunk.{name}.net.2"
        return
    linears = [(n, m) for n, m in trunk if isinstance(m, EnsembleLinear)]
    acts = [n for n, m in trunk if isinstance(m, ACTIVATIONS)]
    norms = {int(n): m for n, m in trunk if isinstance(m, EnsembleLayerNorm)}
    outgoing = [m for _, m in linears[1:]] + [critic.head]
    for (index, incoming), out, act in zip(linears, outgoing, acts):
        yield incoming, out, norms.get(int(index) + 1), f"trunk.{act}"
