"""The learned-env heads learn reward, episode end and the action from transitions."""

from __future__ import annotations

import pytest
import torch

from worldsim.models.env_heads import EnvHeads, EnvHeadsConfig, transition_pairs


def transitions(n: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Latents moved two columns left / not / right by a Discrete(3) action; reward and end from it."""
    z0 = torch.randn(n, 2, 16, 16, generator=generator)
    action = torch.randint(0, 3, (n,), generator=generator)
    z1 = torch.stack(
        [torch.roll(z, 2 * (int(a) - 1), dims=-1) for z, a in zip(z0, action, strict=True)]
    )
    onehot = torch.nn.functional.one_hot(action, 3).float()
    reward = (action == 2).float() * 2.0 - 0.5
    ended = (action == 0).float()
    return z0, z1, onehot, reward, ended


def test_heads_learn_a_transition_rule() -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    config = EnvHeadsConfig(
        latent_channels=2, action_dim=3, action_kind="discrete", width=8, feature_dim=16
    )
    heads = EnvHeads(config)
    optimizer = torch.optim.Adam(heads.parameters(), lr=3e-3)
    for _ in range(300):
        losses = heads.loss(*transitions(32, g))
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
    z0, z1, onehot, reward, ended = transitions(256, g)
    with torch.no_grad():
        pred = heads(z0, z1, onehot)
    idm_accuracy = (pred.action_BA.argmax(1) == onehot.argmax(1)).float().mean()
    reward_mae = (pred.reward_B - reward).abs().mean()
    constant_mae = (reward - reward.mean()).abs().mean()
    ended_accuracy = ((pred.terminated_logit_B > 0).float() == ended).float().mean()
    assert idm_accuracy > 0.9
    assert reward_mae < 0.3 * constant_mae
    assert ended_accuracy > 0.95


def test_heads_refuse_mismatched_inputs() -> None:
    heads = EnvHeads(EnvHeadsConfig(latent_channels=2, action_dim=3, width=8, feature_dim=16))
    z = torch.zeros(4, 2, 16, 16)
    with pytest.raises(ValueError, match="same"):
        heads(z, torch.zeros(4, 2, 8, 8), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="channels"):
        heads(torch.zeros(4, 3, 16, 16), torch.zeros(4, 3, 16, 16), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="actions must have shape"):
        heads(z, z, torch.zeros(4, 2))
    with pytest.raises(ValueError, match="action_kind"):
        EnvHeadsConfig(latent_channels=2, action_dim=3, action_kind="multi")
    with pytest.raises(ValueError, match="reward_std"):
        EnvHeadsConfig(latent_channels=2, action_dim=3, reward_std=0.0)


def test_transition_pairs_line_up_t_and_t_plus_one() -> None:
    x = torch.arange(2 * 4).reshape(2, 4)
    first, second = transition_pairs(x)
    assert first.tolist() == [0, 1, 2, 4, 5, 6]
    assert second.tolist() == [1, 2, 3, 5, 6, 7]
