"""Gymnasium environments: the procedural ground-truth world and the learned world model."""
