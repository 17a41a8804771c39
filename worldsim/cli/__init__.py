"""Console entry points; each is a thin ``@hydra.main`` wrapper."""
