"""Encoder self-attention with decomposed relative positions, as the official 3D SAM computes it.

Window blocks of the official model zero-pad the 8^3 token grid to one 14^3 window and attend
WITHOUT a mask, so 2232 padding tokens take part in the softmax. After LayerNorm the padding
tokens are zero, so each has key ``b_k`` and value ``b_v`` (the qkv bias); only its relative
position bias differs, and in both bias forms (``relative_position``) the summed
``exp(bias)`` over the window factorises. The padding therefore becomes one virtual key whose
logit is ``log(sum over padding of exp(logit))``: the same attention as the padded computation
(to float rounding) at a fraction of the cost. ``literal=True`` runs the padded window and the
bias as the authors' code computes them (the reference, used by tests and benchmarks).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seganypet_node.model.modeling.family import RelPosBias
from seganypet_node.model.modeling.relative_position import Tables, fast_bias, literal_bias


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
    form : RelPosBias
        How the per-axis relative terms are added (the weights' training decides).
    """

    def __init__(self, dim: int, num_heads: int, span: int,
                 form: RelPosBias = RelPosBias.SAM_MED3D) -> None:
        super().__init__()
        self.form = form
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
    def tables(self) -> Tables:
        return self.rel_pos_d, self.rel_pos_h, self.rel_pos_w

    def forward(self, x: torch.Tensor, literal: bool = False) -> torch.Tensor:
        """Attend over a cubic grid ``x`` of shape (B, g, g, g, C) (already normalised).

        When the grid is smaller than ``span`` (window blocks), the zero padding up to
        ``span`` takes part as the official model does.
        """
        grid = x.shape[1]
        if grid > self.span:
            raise ValueError(f"token grid {grid} larger than the attention window {self.span}")
        if literal:
            pad = self.span - grid
            padded = F.pad(x, (0, 0, 0, pad, 0, pad, 0, pad))
            return self._attend_literally(padded)[:, :grid, :grid, :grid].contiguous()
        return self._attend(x)

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, g = x.shape[0], x.shape[1]
        qkv = self.qkv(x).reshape(b, g**3, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.reshape(3, b * self.num_heads, g**3, self.head_dim).unbind(0)
        return q, k, v

    def _merge(self, out: torch.Tensor, b: int, g: int) -> torch.Tensor:
        out = out.view(b, self.num_heads, g, g, g, self.head_dim).permute(0, 2, 3, 4, 1, 5)
        return self.proj(out.reshape(b, g, g, g, -1))

    def _attend_literally(self, x: torch.Tensor) -> torch.Tensor:
        """Step by step over the full window, every token a query (the reference path)."""
        b, s = x.shape[0], x.shape[1]
        q, k, v = self._split(x)
        bias = literal_bias(q.view(-1, s, s, s, self.head_dim), self.tables, self.form)
        attn = ((q * self.scale) @ k.transpose(-2, -1) + bias).softmax(dim=-1)
        return self._merge(attn @ v, b, s)

    def _attend(self, x: torch.Tensor) -> torch.Tensor:
        b, g = x.shape[0], x.shape[1]
        q, k, v = self._split(x)
        bh, c = q.shape[0], q.shape[-1]
        bias_q, bias_k, bias_v = (t.repeat(b, 1) for t in self._head_bias())
        terms = fast_bias(q.view(bh, g, g, g, c), bias_q, self.tables, self.span, self.form)
        if terms.log_padding is None:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=terms.real, scale=self.scale)
            return self._merge(out, b, g)
        logit_padding = self.scale * (q @ bias_k[:, :, None]).squeeze(-1)
        virtual_bias = (logit_padding + terms.log_padding)[..., None]
        keys = torch.cat([k, torch.zeros_like(k[:, :1])], dim=1)
        values = torch.cat([v, bias_v[:, None, :]], dim=1)
        bias = torch.cat([terms.real, virtual_bias], dim=-1)
        out = F.scaled_dot_product_attention(q, keys, values, attn_mask=bias, scale=self.scale)
        return self._merge(out, b, g)

    def _head_bias(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Query, key and value bias per head, shape (heads, head_dim) each: what a zero
        (padding) token's query, key and value are."""
        bias = self.qkv.bias
        assert bias is not None
        q, k, v = bias.view(3, self.num_heads, self.head_dim).unbind(0)
        return q, k, v
