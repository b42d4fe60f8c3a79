"""Multi-scale deformable attention against a slow, obviously correct loop reference."""

from __future__ import annotations

import math

import pytest
import torch

from agriseg.models.vit_adapter.deform_attn import MSDeformAttn, ms_deform_attn_sample, reference_points

SHAPES = [(5, 7), (3, 4), (1, 2)]


def loop_reference(
    value: torch.Tensor, shapes: list[tuple[int, int]], locs: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Bilinear sampling by hand: pixel (i, j) of a level has its centre at ((j + .5)/W, (i + .5)/H)."""
    b, _, m, d = value.shape
    _, q, _, n_levels, p, _ = locs.shape
    starts = [sum(h * w for h, w in shapes[:i]) for i in range(len(shapes))]
    out = torch.zeros(b, q, m, d, dtype=value.dtype)
    for bi in range(b):
        for qi in range(q):
            for mi in range(m):
                for li in range(n_levels):
                    h, w = shapes[li]
                    for pi in range(p):
                        x = locs[bi, qi, mi, li, pi, 0].item() * w - 0.5  # continuous pixel coordinates
                        y = locs[bi, qi, mi, li, pi, 1].item() * h - 0.5
                        x0, y0 = math.floor(x), math.floor(y)
                        for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
                            for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
                                if 0 <= yy < h and 0 <= xx < w:  # zeros outside the map
                                    v = value[bi, starts[li] + yy * w + xx, mi]
                                    out[bi, qi, mi] += weights[bi, qi, mi, li, pi] * wy * wx * v
    return out.reshape(b, q, m * d)


def random_inputs(seed: int, b: int = 2, q: int = 6, m: int = 2, d: int = 3, p: int = 3):
    g = torch.Generator().manual_seed(seed)
    s = sum(h * w for h, w in SHAPES)
    value = torch.randn(b, s, m, d, generator=g, dtype=torch.float64)
    # include locations outside [0, 1] to exercise the zero padding
    locs = torch.rand(b, q, m, len(SHAPES), p, 2, generator=g, dtype=torch.float64) * 1.4 - 0.2
    weights = torch.rand(b, q, m, len(SHAPES), p, generator=g, dtype=torch.float64)
    return value, locs, weights


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sampling_matches_loop_reference(seed):
    value, locs, weights = random_inputs(seed)
    got = ms_deform_attn_sample(value, SHAPES, locs, weights)
    want = loop_reference(value, SHAPES, locs, weights)
    assert got.shape == (2, 6, 2 * 3)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_sampling_at_pixel_centre_reads_that_pixel():
    value = torch.arange(12, dtype=torch.float64).view(1, 12, 1, 1)  # one level 3x4, one head, one channel
    locs = torch.tensor([(2 + 0.5) / 4, (1 + 0.5) / 3], dtype=torch.float64).view(1, 1, 1, 1, 1, 2)
    out = ms_deform_attn_sample(value, [(3, 4)], locs, torch.ones(1, 1, 1, 1, 1, dtype=torch.float64))
    assert out.item() == pytest.approx(1 * 4 + 2)


def test_sampling_gradients_match_finite_differences():
    value, locs, weights = random_inputs(3, b=1, q=3, m=2, d=2, p=2)
    inputs = tuple(t.clone().requires_grad_(True) for t in (value, locs, weights))
    assert torch.autograd.gradcheck(lambda v, loc, w: ms_deform_attn_sample(v, SHAPES, loc, w), inputs)


def test_module_matches_reference_with_projections():
    torch.manual_seed(0)
    dim, heads, points = 8, 2, 3
    attn = MSDeformAttn(dim, n_levels=len(SHAPES), n_heads=heads, n_points=points).double()
    for lin in (attn.sampling_offsets, attn.attention_weights):  # non-trivial offsets and weights
        torch.nn.init.normal_(lin.weight, std=0.5)
    q_shapes = [(2, 3)]
    query = torch.randn(2, 6, dim, dtype=torch.float64)
    value = torch.randn(2, sum(h * w for h, w in SHAPES), dim, dtype=torch.float64)
    refs = reference_points(q_shapes).double()
    got = attn(query, refs, value, SHAPES)
    # the same computation spelled out with the loop reference
    v = attn.value_proj(value).view(2, -1, heads, dim // heads)
    off = attn.sampling_offsets(query).view(2, 6, heads, len(SHAPES), points, 2)
    w = attn.attention_weights(query).view(2, 6, heads, -1).softmax(-1).view(2, 6, heads, len(SHAPES), points)
    norm = torch.tensor([[w_, h_] for h_, w_ in SHAPES], dtype=torch.float64)
    locs = refs[:, :, None, :, None, :] + off / norm[None, None, None, :, None, :]
    want = attn.output_proj(loop_reference(v, SHAPES, locs, w))
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def test_reference_points_are_pixel_centres():
    refs = reference_points([(2, 4), (1, 1)])
    assert refs.shape == (1, 9, 1, 2)
    torch.testing.assert_close(refs[0, 1, 0], torch.tensor([0.375, 0.25]))  # row 0, column 1 of 2x4
    torch.testing.assert_close(refs[0, 8, 0], torch.tensor([0.5, 0.5]))  # the single cell of 1x1


def test_initialisation_uniform_weights_and_directional_offsets():
    attn = MSDeformAttn(12, n_levels=2, n_heads=4, n_points=3)
    assert torch.count_nonzero(attn.attention_weights.weight) == 0
    bias = attn.sampling_offsets.bias.view(4, 2, 3, 2)
    torch.testing.assert_close(bias[0, 0, :, 0], torch.tensor([1.0, 2.0, 3.0]))  # head 0 points along +x
    torch.testing.assert_close(bias[1, 1, :, 1], torch.tensor([1.0, 2.0, 3.0]))  # head 1 along +y, every level
    torch.testing.assert_close(bias[0], bias[0, :1].expand(2, 3, 2))


def test_shape_mismatch_is_an_error():
    value, locs, weights = random_inputs(0)
    with pytest.raises(ValueError, match="shapes"):
        ms_deform_attn_sample(value, SHAPES[:2], locs, weights)


def test_heads_must_divide_value_channels():
    with pytest.raises(ValueError, match="divisible"):
        MSDeformAttn(10, n_heads=3)
