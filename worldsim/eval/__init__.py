"""The evaluation harness: fidelity, action and text adherence, drift and speed in one report."""
