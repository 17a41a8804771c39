"""The world-model runtime: one checkpoint in, batched autoregressive frame generation out."""
