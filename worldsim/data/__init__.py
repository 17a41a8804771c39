"""Driving episodes: sources, the on-disk episode store, and training clips."""
