"""``KVCache``: the per-layer temporal keys and values of past frames, for streaming generation."""

from __future__ import annotations

from typing import Any

import torch
from einops import rearrange


class KVCache:
    """Temporal keys/values of past frames for every block, for streaming generation.

    A fixed-size ring buffer per batch row: ``window - 1`` slots per block of shape
    ``(B*S, heads, window - 1, head_dim)`` with rotary positions already applied, a validity
    mask ``valid_BN`` and a write pointer per row. Attention over the slots does not depend on
    their order, so rows can be committed to, reset, saved and restored independently, and
    memory is fixed from the first frame on.
    """

    def __init__(self, depth: int, window: int) -> None:
        self.depth = depth
        self.window = window
        self.slots = max(window - 1, 0)
        self.k: list[torch.Tensor | None] = [None] * depth
        self.v: list[torch.Tensor | None] = [None] * depth
        self.valid_BN: torch.Tensor | None = None
        self.pointer_B: torch.Tensor | None = None
        self._pending: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * depth

    @property
    def length(self) -> int:
        """Largest number of valid cached frames over the batch rows."""
        if self.valid_BN is None:
            return 0
        return int(self.valid_BN.sum(dim=1).max())

    @property
    def allocated(self) -> bool:
        """Whether a frame has been committed, so that the slots exist."""
        return self.valid_BN is not None

    # -- attention (VideoDiT.forward_step) ----------------------------------------------------
    def stage(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> None:
        """Hold the new frame's keys/values of ``layer`` until :meth:`commit` or :meth:`discard`."""
        self._pending[layer] = (k, v)

    def discard(self) -> None:
        """Drop the staged frame."""
        self._pending = [None] * self.depth

    def past(self, layer: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The cached keys and values of ``layer``, ``(B*S, H, slots, hd)`` each (which slots
        are valid: ``valid_BN``); ``None`` before the first commit."""
        past_k, past_v = self.k[layer], self.v[layer]
        if past_k is None or past_v is None:
            return None
        return past_k, past_v

    # -- writing ------------------------------------------------------------------------------
    def _allocate(self, k: torch.Tensor, batch: int) -> None:
        shape = (k.shape[0], k.shape[1], self.slots, k.shape[3])
        for layer in range(self.depth):
            self.k[layer] = k.new_zeros(shape)
            self.v[layer] = k.new_zeros(shape)
        self.valid_BN = torch.zeros(batch, self.slots, dtype=torch.bool, device=k.device)
        self.pointer_B = torch.zeros(batch, dtype=torch.long, device=k.device)

    def _stores(self) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """Keys and values of every layer, validity and pointers; the cache must be allocated."""
        keys = [k for k in self.k if k is not None]
        values = [v for v in self.v if v is not None]
        if self.valid_BN is None or self.pointer_B is None or len(keys) != self.depth:
            raise RuntimeError("the KV cache is empty; commit a frame first")
        assert len(values) == self.depth
        return keys, values, self.valid_BN, self.pointer_B

    @staticmethod
    def _token_rows(rows_R: torch.Tensor, per_row: int) -> torch.Tensor:
        """Rows ``(R*S,)`` of the ``(B*S, ...)`` slot tensors that hold batch rows ``rows_R``."""
        return (rows_R[:, None] * per_row + torch.arange(per_row, device=rows_R.device)).reshape(-1)

    def commit(self, rows_B: torch.Tensor) -> None:
        """Write the staged frame into the next slot of every row where ``rows_B`` is True."""
        staged = [item for item in self._pending if item is not None]
        if len(staged) != self.depth:
            raise RuntimeError("nothing staged in some layer; call forward_step(commit=...)")
        batch = rows_B.shape[0]
        if self.slots == 0:
            self.discard()
            return
        k0 = staged[0][0]
        if self.valid_BN is None:
            self._allocate(k0, batch)
        keys, values, valid_BN, pointer_B = self._stores()
        rows_R = torch.nonzero(rows_B, as_tuple=False)[:, 0]
        if rows_R.numel():
            slot_R = pointer_B[rows_R]
            per_row = k0.shape[0] // batch
            flat = self._token_rows(rows_R, per_row)
            flat_slot = slot_R.repeat_interleave(per_row)
            for layer, (k_new, v_new) in enumerate(staged):
                keys[layer][flat, :, flat_slot] = k_new[flat, :, 0]
                values[layer][flat, :, flat_slot] = v_new[flat, :, 0]
            valid_BN[rows_R, slot_R] = True
            pointer_B[rows_R] = (slot_R + 1) % self.slots
        self.discard()

    # -- rows ---------------------------------------------------------------------------------
    def invalidate(self, rows_B: torch.Tensor) -> None:
        """Forget the history of the batch rows where ``rows_B`` is True."""
        if self.valid_BN is not None and self.pointer_B is not None:
            self.valid_BN[rows_B] = False
            self.pointer_B[rows_B] = 0

    def select(self, index_B: torch.Tensor) -> None:
        """Reorder or repeat batch rows (e.g. to fork a rollout), in place."""
        if self.valid_BN is None or self.pointer_B is None:
            return
        b = self.valid_BN.shape[0]
        for store in (self.k, self.v):
            for layer in range(self.depth):
                kv = store[layer]
                assert kv is not None
                rows = rearrange(kv, "(b s) h n d -> b s h n d", b=b)[index_B]
                store[layer] = rearrange(rows, "b s h n d -> (b s) h n d").contiguous()
        self.valid_BN = self.valid_BN[index_B].clone()
        self.pointer_B = self.pointer_B[index_B].clone()

    def snapshot_rows(self, rows_R: torch.Tensor) -> dict[str, Any]:
        """Copies of the slots, validity and write pointers of batch rows ``rows_R`` (indices),
        for :meth:`restore_rows`: ``{"k": [...], "v": [...], "valid": ..., "pointer": ...}``."""
        keys, values, valid_BN, pointer_B = self._stores()
        flat = self._token_rows(rows_R, keys[0].shape[0] // valid_BN.shape[0])
        return {
            "k": [k[flat].clone() for k in keys],
            "v": [v[flat].clone() for v in values],
            "valid": valid_BN[rows_R].clone(),
            "pointer": pointer_B[rows_R].clone(),
        }

    def restore_rows(self, rows_R: torch.Tensor, snapshot: dict[str, Any]) -> None:
        """Overwrite batch rows ``rows_R`` with a :meth:`snapshot_rows` of as many rows (possibly
        taken from other rows)."""
        keys, values, valid_BN, pointer_B = self._stores()
        flat = self._token_rows(rows_R, keys[0].shape[0] // valid_BN.shape[0])
        for layer in range(self.depth):
            keys[layer][flat] = snapshot["k"][layer]
            values[layer][flat] = snapshot["v"][layer]
        valid_BN[rows_R] = snapshot["valid"]
        pointer_B[rows_R] = snapshot["pointer"]

    def nbytes(self) -> int:
        """Memory held by the slots, in bytes."""
        tensors = [t for t in (*self.k, *self.v) if t is not None]
        return sum(t.numel() * t.element_size() for t in tensors)
