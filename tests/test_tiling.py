import numpy as np
import pytest

from agriseg.runtime import softmax
from agriseg.tiling import blend_weights, overlap_stride, predict_tiled, window_starts


def test_window_starts_cover_the_whole_length():
    for length, tile, stride in [(100, 32, 24), (32, 32, 24), (33, 32, 24), (10, 32, 24)]:
        starts = window_starts(length, tile, stride)
        covered = np.zeros(length, dtype=bool)
        for s in starts:
            covered[s : s + tile] = True
        assert covered.all() and starts[-1] + min(tile, length) == length


@pytest.mark.parametrize("kind", ["gaussian", "hann", "tent", "ones"])
def test_blend_weights_positive_symmetric_and_peaked(kind):
    w = blend_weights(16, kind)
    assert w.shape == (16, 16) and w.dtype == np.float32
    assert (w > 0).all() and np.allclose(w, w.T) and np.allclose(w, w[::-1, ::-1])
    assert 0.85 < w.max() <= 1.0
    if kind != "ones":
        assert w[0, 0] < 0.2


def test_blend_weights_unknown_kind_lists_the_valid_ones():
    with pytest.raises(ValueError, match="gaussian, hann, tent, ones"):
        blend_weights(8, "cosine")


def test_overlap_stride():
    assert overlap_stride(256, 0.25) == 192 and overlap_stride(16, 0.0) == 16 and overlap_stride(3, 0.9) == 1
    with pytest.raises(ValueError):
        overlap_stride(16, 1.0)


def test_tiled_equals_whole_for_a_pointwise_model():
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(4, 3)).astype(np.float32)

    def pointwise(x: np.ndarray) -> np.ndarray:  # (N, 3, h, w) -> softmax of a 1x1 convolution (N, 4, h, w)
        return softmax(np.einsum("kc,nchw->nkhw", weight, x), 1)

    img = rng.random((3, 70, 95), dtype=np.float32)
    whole = pointwise(img[None])[0]
    tiled = predict_tiled(pointwise, img, 4, tile=32, overlap=0.25, batch_size=3)
    assert tiled.shape == (4, 70, 95) and tiled.dtype == np.float32
    assert np.allclose(tiled, whole, atol=1e-5)


def test_tiles_are_spaced_by_the_one_stride_rule() -> None:
    """Crop tiles were floored (``int``) where text and fields round: 1 px apart for 282 of 637 pairs."""
    starts: list[tuple[int, int]] = []

    def forward(b: np.ndarray) -> np.ndarray:
        starts.extend((int(t[0, 0, 0]), int(t[1, 0, 0])) for t in b)  # each tile's top-left pixel says where it is
        return softmax(b[:, :2] * 0, 1)

    y, x = np.mgrid[0:600, 0:300].astype(np.float32)
    predict_tiled(forward, np.stack([y, x, x]), 2, tile=256, overlap=0.02)  # 250.88: 251 rounded, 250 floored
    assert sorted({s[0] for s in starts}) == window_starts(600, 256, overlap_stride(256, 0.02)) == [0, 251, 344]
    assert overlap_stride(256, 0.02) == 251


def test_predict_tiled_refuses_a_channels_last_image_and_an_overlap_out_of_range():
    """An (H, W, 3) image came back as (K, W, 3) probabilities; a negative overlap left gaps (NaN)."""
    forward = lambda b: softmax(b[:, :2] * 0, 1)  # noqa: E731
    with pytest.raises(ValueError, match=r"\(H, W, C\)"):
        predict_tiled(forward, np.zeros((300, 300, 3), np.float32), 2, tile=128)
    with pytest.raises(ValueError, match="overlap"):
        predict_tiled(forward, np.zeros((3, 300, 300), np.float32), 2, tile=128, overlap=-1)
    probs = predict_tiled(forward, np.zeros((3, 300, 300), np.float32), 2, tile=128)
    assert probs.shape == (2, 300, 300) and np.isfinite(probs).all()


def test_a_photo_of_many_tiles_shows_their_progress(capsys: pytest.CaptureFixture[str]) -> None:
    """One large photo was minutes of silence on a CPU: its tiles have a bar (none for one model pass)."""
    image = np.random.default_rng(0).random((3, 200, 300), dtype=np.float32)
    forward = lambda b: softmax(b[:, :2], 1)  # noqa: E731
    whole = predict_tiled(forward, image, 2, tile=64, batch_size=2)
    assert "tile" not in capsys.readouterr().err
    np.testing.assert_allclose(predict_tiled(forward, image, 2, tile=64, batch_size=2, progress=True), whole)
    err = capsys.readouterr().err
    assert "tiles of 200x300" in err and "tile/s" in err, err
    predict_tiled(forward, image, 2, tile=512, batch_size=2, progress=True)  # one pass: no bar
    assert "tile" not in capsys.readouterr().err


def test_window_starts_never_repeat_the_last_window() -> None:
    """A stride that divides the length evenly gave the last window twice in a changed rule (session 75's sweep):
    one more forward pass and double weight on that tile."""
    from agriseg.tiling import window_starts

    assert window_starts(20, 10, 5) == [0, 5, 10]
    assert window_starts(21, 10, 5) == [0, 5, 10, 11]
    assert window_starts(10, 10, 5) == [0]


def test_a_long_thin_image_is_tiled_along_its_long_side() -> None:
    """An image shorter than the tile one way and longer the other goes to the model in tiles, never whole."""
    from agriseg.tiling import predict_tiled

    widths: list[int] = []

    def forward(batch: np.ndarray) -> np.ndarray:  # (N, C, h, w) -> (N, 2, h, w)
        widths.extend([batch.shape[3]] * len(batch))
        return np.stack([np.zeros_like(batch[:, 0]), np.ones_like(batch[:, 0])], axis=1)

    out = predict_tiled(forward, np.zeros((3, 8, 100), np.float32), num_classes=2, tile=32, overlap=0.25)
    assert out.shape == (2, 8, 100) and max(widths) == 32 and len(widths) > 1
    assert np.allclose(out[1], 1.0)  # blended back to the tiles' value everywhere


def test_a_tile_of_no_pixels_is_refused() -> None:
    """Session 85's API sweep: tile=0 returned all-NaN probabilities with a divide warning."""
    import numpy as np
    import pytest

    from agriseg.tiling import predict_tiled

    with pytest.raises(ValueError, match="tile must be at least 1 px, got 0"):
        predict_tiled(lambda b: b[:, :2], np.zeros((3, 8, 8), np.float32), 2, tile=0)


def test_window_rules_refuse_sizes_that_place_no_window() -> None:
    """Session 87's API sweep: a stride of -2 gave one window, 0 a bare range() error; a window of 0 gave 11
    starts; blend_weights(0) a numpy reduction error and a sigma of 0 all-NaN weights."""
    for window, stride in [(4, -2), (4, 0), (0, 1), (-3, 1)]:
        with pytest.raises(ValueError, match="window and stride must be at least 1 px"):
            window_starts(10, window, stride)
    assert window_starts(20, 4, 8) == [0, 8, 16]  # a stride over the window samples (fields robustness chips)
    with pytest.raises(ValueError, match="at least 1 px, got 0"):
        blend_weights(0)
    with pytest.raises(ValueError, match="sigma_scale must be above 0"):
        blend_weights(8, "gaussian", 0.0)


def test_predict_tiled_checks_what_forward_returns() -> None:
    """A photo that fits one tile got the forward function's output unchecked: 3 classes for num_classes=2, and
    float64 where the tiled path gives float32."""

    def three(batch: np.ndarray) -> np.ndarray:
        return np.zeros((len(batch), 3, *batch.shape[2:]))  # float64, one class too many

    for size in (8, 40):  # one tile, several
        with pytest.raises(ValueError, match=r"forward returned shape \(\d, 3, \d+, \d+\); expected \(N, 2,"):
            predict_tiled(three, np.zeros((3, size, size), np.float32), 2, tile=16)
    out = predict_tiled(lambda b: np.ones((len(b), 2, *b.shape[2:])), np.zeros((3, 8, 8), np.float32), 2, tile=16)
    assert out.dtype == np.float32 and out.shape == (2, 8, 8)


def test_an_image_channels_last_or_a_fractional_tile_is_refused() -> None:
    """Session 92's API sweep: an (H, W, 3) photo ran as 50 channels of 70 x 3 px; tile=32.0 failed in range()."""

    def forward(b: np.ndarray) -> np.ndarray:
        return np.stack([1 - b[:, 0], b[:, 0]], 1)

    rgb = np.random.default_rng(0).random((3, 50, 70), dtype=np.float32)
    with pytest.raises(ValueError, match=r"\(50, 70, 3\) looks like \(H, W, C\): image.transpose\(2, 0, 1\)"):
        predict_tiled(forward, rgb.transpose(1, 2, 0), 2, tile=32)
    with pytest.raises(TypeError, match="tile is a whole number of pixels, got 32.0"):
        predict_tiled(forward, rgb, 2, tile=32.0)  # type: ignore[arg-type]
    assert predict_tiled(forward, np.zeros((8, 50, 70), np.float32), 2, tile=32).shape == (2, 50, 70)
