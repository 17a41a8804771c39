"""LightningModules for the two training stages, and training callbacks."""
