import torch

from agriseg.inference.tiling import blend_window, predict_tiled, tile_starts


def test_tile_starts_cover_the_whole_length():
    for length, tile, stride in [(100, 32, 24), (32, 32, 24), (33, 32, 24), (10, 32, 24)]:
        starts = tile_starts(length, tile, stride)
        covered = torch.zeros(length, dtype=torch.bool)
        for s in starts:
            covered[s : s + tile] = True
        assert covered.all() and starts[-1] + min(tile, length) == length


def test_blend_window_positive_and_peaked():
    w = blend_window(16)
    assert (w > 0).all() and w[8, 8] == 1 and w[0, 0] < 0.01


def test_tiled_equals_whole_for_a_pointwise_model():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, 1)
    img = torch.rand(3, 70, 95)
    whole = conv(img[None]).softmax(1)[0]
    tiled = predict_tiled(conv, img, 4, tile=32, overlap=0.25, batch_size=3)
    assert tiled.shape == (4, 70, 95)
    assert torch.allclose(tiled, whole, atol=1e-5)
