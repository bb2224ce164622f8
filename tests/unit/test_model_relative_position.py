"""The encoder attention's relative-position bias equals the authors' computation.

``authors_attention`` below is this test's own transcription of SegAnyPET's attention (the
SAM-Med3D code in ``code/segment_anything/modeling/image_encoder3D.py``), step by step as that
code runs: zero-pad the window, qkv, scaled dot products, the per-axis relative rows, three
einsums, the 7-D view with its 5-D indexing, softmax, projection, crop. It is independent of
the node's ``relative_position`` module, so an error shared by the node's literal and fast
paths cannot hide.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seganypet_node.model.modeling.attention import EncoderAttention
from seganypet_node.model.modeling.family import VIT_B_ORI, RelPosBias, Sam3DConfig

WIDTH, HEADS, GRID, WINDOW = 48, 2, 3, 5


def authors_rows(size: int, table: torch.Tensor) -> torch.Tensor:
    """Rows of the relative table as their ``get_rel_pos`` gives them for equal sizes."""
    q_coords = torch.arange(size)[:, None]
    k_coords = torch.arange(size)[None, :]
    return table[(q_coords - k_coords + (size - 1)).long()]


def authors_attention(attention: EncoderAttention, x: torch.Tensor, window: int) -> torch.Tensor:
    """The authors' window (or global, when ``window`` equals the grid) attention on ``x``."""
    batch, grid = x.shape[0], x.shape[1]
    pad = window - grid
    x = F.pad(x, (0, 0, 0, pad, 0, pad, 0, pad))
    d = h = w = window
    qkv = attention.qkv(x).reshape(batch, d * h * w, 3, HEADS, -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.reshape(3, batch * HEADS, d * h * w, -1).unbind(0)
    attn = (q * attention.scale) @ k.transpose(-2, -1)
    rd = authors_rows(d, attention.rel_pos_d)
    rh = authors_rows(h, attention.rel_pos_h)
    rw = authors_rows(w, attention.rel_pos_w)
    r_q = q.reshape(batch * HEADS, d, h, w, q.shape[-1])
    rel_d = torch.einsum("bdhwc,dkc->bdhwk", r_q, rd)
    rel_h = torch.einsum("bdhwc,hkc->bdhwk", r_q, rh)
    rel_w = torch.einsum("bdhwc,wkc->bdhwk", r_q, rw)
    attn = (attn.view(batch * HEADS, d, h, w, d, h, w) + rel_d[:, :, :, :, None, None]
            + rel_h[:, :, :, None, :, None] + rel_w[:, :, :, None, None, :])
    attn = attn.view(batch * HEADS, d * h * w, d * h * w).softmax(dim=-1)
    out = (attn @ v).view(batch, HEADS, d, h, w, -1).permute(0, 2, 3, 4, 1, 5)
    out = attention.proj(out.reshape(batch, d, h, w, -1))
    return out[:, :grid, :grid, :grid]


def textbook_attention(attention: EncoderAttention, x: torch.Tensor) -> torch.Tensor:
    """The textbook decomposition, written out per key coordinate (no padding)."""
    batch, grid = x.shape[0], x.shape[1]
    n = grid**3
    qkv = attention.qkv(x).reshape(batch, n, 3, HEADS, -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.reshape(3, batch * HEADS, n, -1).unbind(0)
    coords = torch.stack(torch.meshgrid(*(torch.arange(grid),) * 3, indexing="ij"), -1)
    coords = coords.reshape(n, 3)
    bias = torch.zeros(batch * HEADS, n, n)
    for axis, table in enumerate(attention.tables):
        rows = table[coords[:, None, axis] - coords[None, :, axis] + grid - 1]  # (n, n, C)
        bias += torch.einsum("bqc,qkc->bqk", q, rows)
    attn = ((q * attention.scale) @ k.transpose(-2, -1) + bias).softmax(dim=-1)
    out = (attn @ v).view(batch, HEADS, grid, grid, grid, -1).permute(0, 2, 3, 4, 1, 5)
    return attention.proj(out.reshape(batch, grid, grid, grid, -1))


def attention_with_random_weights(span: int, form: RelPosBias, seed: int) -> EncoderAttention:
    attention = EncoderAttention(WIDTH, HEADS, span, form)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in attention.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    return attention.eval()


def tokens(seed: int) -> torch.Tensor:
    return torch.randn(2, GRID, GRID, GRID, WIDTH, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("span", [GRID, WINDOW], ids=["global", "window"])
@pytest.mark.parametrize("literal", [True, False], ids=["literal", "fast"])
def test_node_attention_equals_the_authors_computation(span: int, literal: bool) -> None:
    attention = attention_with_random_weights(span, RelPosBias.SAM_MED3D, seed=span)
    x = tokens(seed=11)
    with torch.no_grad():
        expected = authors_attention(attention, x, span)
        got = attention(x, literal=literal)
    assert expected.abs().max() > 0.1
    assert (got - expected).abs().max().item() < 1e-5


@pytest.mark.parametrize("span", [GRID, WINDOW], ids=["global", "window"])
def test_the_textbook_form_is_not_the_authors(span: int) -> None:
    """The check above can fail: the textbook broadcasting misses it by far more than 1e-5."""
    attention = attention_with_random_weights(span, RelPosBias.TEXTBOOK, seed=span)
    x = tokens(seed=11)
    with torch.no_grad():
        authors = authors_attention(attention, x, span)
        for literal in (True, False):
            assert (attention(x, literal=literal) - authors).abs().max().item() > 1e-2


@pytest.mark.parametrize("literal", [True, False], ids=["literal", "fast"])
def test_textbook_form_equals_its_definition(literal: bool) -> None:
    attention = attention_with_random_weights(GRID, RelPosBias.TEXTBOOK, seed=5)
    x = tokens(seed=12)
    with torch.no_grad():
        assert (attention(x, literal=literal)
                - textbook_attention(attention, x)).abs().max().item() < 1e-5


def test_configurations_declare_their_form() -> None:
    assert VIT_B_ORI.rel_pos_bias is RelPosBias.SAM_MED3D
    textbook = Sam3DConfig(name="t", rel_pos_bias=RelPosBias.TEXTBOOK)
    assert textbook.to_dict()["rel_pos_bias"] == "textbook"
    assert Sam3DConfig.from_dict(textbook.to_dict()) == textbook
    with pytest.raises(ValueError, match="rel_pos_bias 'mvit' is not one of textbook, sam_med3d"):
        Sam3DConfig.from_dict({**textbook.to_dict(), "rel_pos_bias": "mvit"})
