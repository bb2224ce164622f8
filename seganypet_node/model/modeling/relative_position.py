"""The encoder's decomposed relative-position bias in both forms of :class:`RelPosBias`.

Queries are the real tokens, a cubic grid of edge ``g``; keys lie on a window of edge ``span``
(``g`` in global blocks, the zero-padded window in window blocks). Per axis a term is the
query's vector times the table row of the offset ``i - k`` (``R[i, k] = table[i - k + span - 1]``).

Two computations of each form:

- :func:`literal_bias` adds the per-axis terms of every token of a full window by broadcasting,
  as the authors' code does (the reference for tests);
- :func:`fast_bias` gives the bias over the real keys only, plus, per query, the log of the
  summed ``exp(bias)`` over the whole window and over the real keys. Both forms factorise
  (textbook: a product of three per-axis sums; SAM-Med3D: for one query the bias is
  ``A[kw] + B[kd, kw] + C[kh, kw]``, so the sum factorises per ``kw``), which is what lets the
  attention over the padding be computed in closed form.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from seganypet_node.model.modeling.family import RelPosBias

Tables = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class FastBias:
    """The bias over real keys and the log-sum-exp that stands for the padding.

    Attributes
    ----------
    real : torch.Tensor
        (BH, g^3, g^3) bias between real queries and real keys.
    log_padding : torch.Tensor or None
        (BH, g^3) ``log sum exp(bias)`` over the padding keys of the window; None when the
        window is the grid (global blocks).
    """

    real: torch.Tensor
    log_padding: torch.Tensor | None


def relative_rows(table: torch.Tensor, queries: int, keys: int, span: int) -> torch.Tensor:
    """Rows ``R[i, k] = table[i - k + span - 1]`` for ``i < queries``, ``k < keys``.

    ``span`` is the attended size along the axis; the table must have ``2*span-1`` rows.
    """
    if table.shape[0] != 2 * span - 1:
        raise ValueError(f"relative table has {table.shape[0]} rows, expected {2 * span - 1}")
    i = torch.arange(queries, device=table.device)
    k = torch.arange(keys, device=table.device)
    return table[i[:, None] - k[None, :] + span - 1]


def axis_terms(q: torch.Tensor, tables: Tables, keys: int, span: int) -> list[torch.Tensor]:
    """Per-axis terms ``q . R[q_axis, k]`` of every query in ``q`` (BH, g, g, g, C).

    Each result has shape (BH, g, g, g, keys).
    """
    g = q.shape[1]
    d, h, w = (relative_rows(t, g, keys, span) for t in tables)
    return [
        torch.einsum("bdhwc,dkc->bdhwk", q, d),
        torch.einsum("bdhwc,hkc->bdhwk", q, h),
        torch.einsum("bdhwc,wkc->bdhwk", q, w),
    ]


def literal_bias(q: torch.Tensor, tables: Tables, form: RelPosBias) -> torch.Tensor:
    """(BH, S^3, S^3) bias of a full window ``q`` (BH, S, S, S, C), every token a query."""
    s = q.shape[1]
    rel_d, rel_h, rel_w = axis_terms(q, tables, s, s)
    if form is RelPosBias.TEXTBOOK:
        bias = rel_d[..., :, None, None] + rel_h[..., None, :, None] + rel_w[..., None, None, :]
    else:
        # The authors' indexing: on a 5-D tensor each pattern leaves the key axis last, so
        # all three terms run over kw and the w and h query axes stand in for kd and kh.
        bias = (rel_d[:, :, :, :, None, None] + rel_h[:, :, :, None, :, None]
                + rel_w[:, :, :, None, None, :])
    return bias.reshape(q.shape[0], s**3, s**3)


def fast_bias(q: torch.Tensor, q_padding: torch.Tensor, tables: Tables, span: int,
              form: RelPosBias) -> FastBias:
    """Bias of the real queries ``q`` (BH, g, g, g, C) against a window of edge ``span``.

    ``q_padding`` (BH, C) is the query of a padding token (the q bias, since padding tokens
    are zero after the block's LayerNorm); only the SAM-Med3D form reads it.
    """
    if form is RelPosBias.TEXTBOOK:
        return _textbook(q, tables, span)
    return _sam_med3d(q, q_padding, tables, span)


def _textbook(q: torch.Tensor, tables: Tables, span: int) -> FastBias:
    g = q.shape[1]
    rel_d, rel_h, rel_w = axis_terms(q, tables, span, span)
    real = (rel_d[..., :g, None, None] + rel_h[..., None, :g, None]
            + rel_w[..., None, None, :g]).reshape(q.shape[0], g**3, g**3)
    if span == g:
        return FastBias(real, None)
    (_, d_in, d_out), (h_all, h_in, h_out), (w_all, _, w_out) = (
        _log_sums(t, g) for t in (rel_d, rel_h, rel_w))
    # The padding as three disjoint parts (kd outside; kd inside, kh outside; kd, kh inside,
    # kw outside): summed without the cancellation of "window minus real keys".
    parts = (d_out + h_all + w_all, d_in + h_out + w_all, d_in + h_in + w_out)
    return FastBias(real, _log_add(parts).flatten(1))


def _sam_med3d(q: torch.Tensor, q_padding: torch.Tensor, tables: Tables, span: int) -> FastBias:
    bh, g, c = q.shape[0], q.shape[1], q.shape[-1]
    table_d, table_h, table_w = tables
    # The h and w terms take the query of token (qd, qh, j), j running over the window's
    # third axis: real tokens up to g, padding tokens beyond.
    line = torch.cat([q, q_padding[:, None, None, None, :].expand(bh, g, g, span - g, c)], dim=3)
    a = torch.einsum("bdhwc,dkc->bdhwk", q, relative_rows(table_d, g, span, span))
    b = torch.einsum("bdhjc,hkc->bdhjk", line, relative_rows(table_h, g, span, span))
    w_rows = relative_rows(table_w, span, span, span)
    c_term = torch.einsum("bdhjc,jkc->bdhjk", line, w_rows)
    real = (a[:, :, :, :, None, None, :g] + b[:, :, :, None, :g, None, :g]
            + c_term[:, :, :, None, None, :g, :g]).reshape(bh, g**3, g**3)
    if span == g:
        return FastBias(real, None)
    # Per kw, sums over kd (from b) and kh (from c_term): all, inside the grid, outside it.
    b_all, b_in, b_out = (t[:, :, :, None, :] for t in _log_sums(b.transpose(3, 4), g))
    c_all, _, c_out = (t[:, :, :, None, :] for t in _log_sums(c_term.transpose(3, 4), g))
    # Disjoint parts of the padding: kw outside; kw inside, kd outside; kw, kd inside, kh
    # outside.
    parts = (
        torch.logsumexp(a[..., g:] + (b_all + c_all)[..., g:], dim=-1),
        torch.logsumexp(a[..., :g] + (b_out + c_all)[..., :g], dim=-1),
        torch.logsumexp(a[..., :g] + (b_in + c_out)[..., :g], dim=-1),
    )
    return FastBias(real, _log_add(parts).flatten(1))


def _log_sums(terms: torch.Tensor, g: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """log sum exp over the last axis: all of it, the first ``g`` entries, the rest."""
    return (torch.logsumexp(terms, dim=-1), torch.logsumexp(terms[..., :g], dim=-1),
            torch.logsumexp(terms[..., g:], dim=-1))


def _log_add(parts: Iterable[torch.Tensor]) -> torch.Tensor:
    return torch.logsumexp(torch.stack(list(parts)), dim=0)
