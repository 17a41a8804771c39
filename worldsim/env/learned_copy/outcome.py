"""``Outcome``: what the learned-env heads predict of one step, the input of the reward and
termination functions of ``worldsim/LearnedEnv-v0``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    """One row's predicted step outcome (nan where the model has no heads)."""

    reward: float  # the reward the heads predict, in the recorded env's units
    terminated_prob: float  # probability that this step ended the episode
    step: int  # steps since reset, this one included
    threshold: float  # the env's termination_threshold


def heads_reward(outcome: Outcome) -> float:
    """The predicted reward (0 when the model has no heads)."""
    return 0.0 if outcome.reward != outcome.reward else float(outcome.reward)


def zero_reward(outcome: Outcome) -> float:
    return 0.0


def heads_termination(outcome: Outcome) -> bool:
    """End when the predicted probability of termination exceeds the threshold."""
    return bool(outcome.terminated_prob > outcome.threshold)


def never(outcome: Outcome) -> bool:
    return False
