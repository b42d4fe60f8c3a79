import torch
import torch.nn.functional as F

from agriseg.models.upsamplers import CARAFE, FADE, DySample
from agriseg.models.upsamplers.reassemble import reassemble_x2


def reassemble_loop(x, kernels, k=5):
    """Obviously-correct reference: output (i, j) = sum over the k x k window at (i // 2, j // 2)."""
    b, c, h, w = x.shape
    xp = F.pad(x, (k // 2,) * 4)
    out = torch.zeros(b, c, 2 * h, 2 * w)
    for i in range(2 * h):
        for j in range(2 * w):
            win = xp[:, :, i // 2 : i // 2 + k, j // 2 : j // 2 + k].reshape(b, c, k * k)
            out[:, :, i, j] = (win * kernels[:, None, :, i, j]).sum(-1)
    return out


def test_reassemble_matches_loop_reference():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 7)
    kern = torch.randn(2, 25, 10, 14).softmax(1)
    assert torch.allclose(reassemble_x2(x, kern), reassemble_loop(x, kern), atol=1e-5)


def test_dysample_starts_as_bilinear():
    up = DySample(8)
    torch.nn.init.zeros_(up.offset.weight)
    x = torch.randn(2, 8, 6, 9)
    ref = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.allclose(up(x), ref, atol=1e-5)


def test_carafe_preserves_constant_field():
    up = CARAFE(4)
    x = torch.full((1, 4, 6, 6), 3.0)
    y = up(x)
    assert y.shape == (1, 4, 12, 12)
    # kernels sum to one; away from the zero-padded border a constant stays constant
    assert torch.allclose(y[..., 4:-4, 4:-4], torch.full_like(y[..., 4:-4, 4:-4], 3.0), atol=1e-5)


def test_fade_gate_mixes_encoder_and_reassembled_decoder():
    up = FADE(4, guide_channels=6)
    d, e = torch.randn(1, 4, 5, 5), torch.randn(1, 6, 10, 10)
    assert up(d, e).shape == (1, 4, 10, 10)
    # a saturated gate passes the (projected) encoder feature through unchanged
    torch.nn.init.zeros_(up.gate.weight)
    torch.nn.init.constant_(up.gate.bias, 50.0)
    assert torch.allclose(up(d, e), up.project(e), atol=1e-5)
