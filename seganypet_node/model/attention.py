"""Encoder self-attention with decomposed relative positions, as the official 3D SAM computes it.

Window blocks of the official model zero-pad the 8^3 token grid to one 14^3 window and attend
WITHOUT a mask, so 2232 padding tokens take part in the softmax. After LayerNorm the padding
tokens are zero, so each has key ``b_k`` and value ``b_v`` (the qkv bias); only its relative
position bias differs, and that bias is a sum of per-axis terms. The total attention weight of
the padding is therefore a product of per-axis sums, computed here in closed form: the padding
becomes one virtual key whose logit is ``log(sum over padding of exp(logit))``. The result is
the same attention as the padded computation (to float rounding) at 1/30 of the cost.
``exact_padding=True`` runs the padded computation itself (the reference, used by tests).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn


def relative_table(table: torch.Tensor, q_coords: torch.Tensor, k_coords: torch.Tensor,
                   span: int) -> torch.Tensor:
    """Rows of a relative-position table for query/key coordinates of one axis.

    ``span`` is the attended size along the axis (window or grid); the table has ``2*span-1``
    rows and row ``q - k + span - 1`` holds the embedding of offset ``q - k``.
    """
    if table.shape[0] != 2 * span - 1:
        raise ValueError(f"relative table has {table.shape[0]} rows, expected {2 * span - 1}")
    return table[q_coords[:, None] - k_coords[None, :] + span - 1]


def axis_terms(q: torch.Tensor, tables: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
               grid: int, keys: int, span: int) -> list[torch.Tensor]:
    """Per-axis relative logits ``q . R[q - k]`` for keys at coordinates ``0..keys-1``.

    ``q`` has shape (BH, grid, grid, grid, C); each result has shape (BH, grid, grid, grid, keys).
    """
    coords_q = torch.arange(grid, device=q.device)
    coords_k = torch.arange(keys, device=q.device)
    d, h, w = (relative_table(t, coords_q, coords_k, span) for t in tables)
    return [
        torch.einsum("bdhwc,dkc->bdhwk", q, d),
        torch.einsum("bdhwc,hkc->bdhwk", q, h),
        torch.einsum("bdhwc,wkc->bdhwk", q, w),
    ]


def relative_bias(terms: list[torch.Tensor], keys: int) -> torch.Tensor:
    """Full (BH, N, keys^3) bias from per-axis terms for a cubic key grid of edge ``keys``."""
    rel_d, rel_h, rel_w = terms
    bh, g = rel_d.shape[0], rel_d.shape[1]
    bias = (rel_d[..., :, None, None] + rel_h[..., None, :, None] + rel_w[..., None, None, :])
    return bias.reshape(bh, g * g * g, keys**3)


def _sum(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    items = list(tensors)
    total = items[0]
    for item in items[1:]:
        total = total + item
    return total


class EncoderAttention(nn.Module):
    """Multi-head self-attention with decomposed 3D relative position bias.

    Parameters
    ----------
    dim : int
        Token width.
    num_heads : int
        Number of heads.
    span : int
        Attended grid edge: the window size for window blocks, the token grid for global ones.
        Sets the relative tables to ``2*span-1`` rows.
    """

    def __init__(self, dim: int, num_heads: int, span: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.span = span
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)
        self.rel_pos_d = nn.Parameter(torch.zeros(2 * span - 1, self.head_dim))
        self.rel_pos_h = nn.Parameter(torch.zeros(2 * span - 1, self.head_dim))
        self.rel_pos_w = nn.Parameter(torch.zeros(2 * span - 1, self.head_dim))

    @property
    def tables(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.rel_pos_d, self.rel_pos_h, self.rel_pos_w

    def forward(self, x: torch.Tensor, exact_padding: bool = False) -> torch.Tensor:
        """Attend over a cubic grid ``x`` of shape (B, g, g, g, C) (already normalised).

        When the grid is smaller than ``span`` (window blocks), the zero padding up to
        ``span`` takes part as the official model does.
        """
        grid = x.shape[1]
        if grid == self.span:
            return self._attend(x)
        if grid > self.span:
            raise ValueError(f"token grid {grid} larger than the attention window {self.span}")
        if exact_padding:
            pad = self.span - grid
            padded = F.pad(x, (0, 0, 0, pad, 0, pad, 0, pad))
            return self._attend(padded, explicit=True)[:, :grid, :grid, :grid].contiguous()
        return self._attend_with_padding(x)

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, g = x.shape[0], x.shape[1]
        qkv = self.qkv(x).reshape(b, g**3, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.reshape(3, b * self.num_heads, g**3, self.head_dim).unbind(0)
        return q, k, v

    def _merge(self, out: torch.Tensor, b: int, g: int) -> torch.Tensor:
        out = out.view(b, self.num_heads, g, g, g, self.head_dim).permute(0, 2, 3, 4, 1, 5)
        return self.proj(out.reshape(b, g, g, g, -1))

    def _attend(self, x: torch.Tensor, explicit: bool = False) -> torch.Tensor:
        b, g = x.shape[0], x.shape[1]
        q, k, v = self._split(x)
        terms = axis_terms(q.view(-1, g, g, g, self.head_dim), self.tables, g, g, self.span)
        bias = relative_bias(terms, g)
        if explicit:  # step by step, as the authors' code does (the reference path)
            attn = ((q * self.scale) @ k.transpose(-2, -1) + bias).softmax(dim=-1)
            return self._merge(attn @ v, b, g)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scale)
        return self._merge(out, b, g)

    def _attend_with_padding(self, x: torch.Tensor) -> torch.Tensor:
        b, g = x.shape[0], x.shape[1]
        q, k, v = self._split(x)
        bh, n, c = q.shape
        full = axis_terms(q.view(bh, g, g, g, c), self.tables, g, self.span, self.span)
        real_bias = relative_bias([t[..., :g] for t in full], g)
        # log of the summed exp(bias) over the whole window minus over the real sub-grid.
        log_window = _sum(torch.logsumexp(t, dim=-1) for t in full)
        log_real = _sum(torch.logsumexp(t[..., :g], dim=-1) for t in full)
        log_padding = log_window + torch.log(-torch.expm1(log_real - log_window))
        bias_k, bias_v = self._head_bias()
        logit_padding = self.scale * (q @ bias_k.repeat(b, 1)[:, :, None]).squeeze(-1)
        virtual_bias = (logit_padding + log_padding.reshape(bh, n))[..., None]
        keys = torch.cat([k, torch.zeros_like(k[:, :1])], dim=1)
        values = torch.cat([v, bias_v.repeat(b, 1)[:, None, :]], dim=1)
        bias = torch.cat([real_bias, virtual_bias], dim=-1)
        out = F.scaled_dot_product_attention(q, keys, values, attn_mask=bias, scale=self.scale)
        return self._merge(out, b, g)

    def _head_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Key and value bias per head, shape (heads, head_dim) each."""
        dim = self.num_heads * self.head_dim
        bias = self.qkv.bias
        assert bias is not None
        return (bias[dim:2 * dim].view(self.num_heads, self.head_dim),
                bias[2 * dim:].view(self.num_heads, self.head_dim))
