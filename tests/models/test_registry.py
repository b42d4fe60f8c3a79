import pytest
import torch

from agriseg.models import build_model
from agriseg.models.upsamplers import UPSAMPLERS, build_upsampler


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match="valid names: .*fpn.*unet.*upernet"):
        build_model(arch="segformer-xl")


def test_unknown_upsampler_lists_valid_names():
    with pytest.raises(ValueError, match="bilinear, carafe, dysample, fade"):
        build_upsampler("nearest", 16)


def test_unknown_encoder_is_clear():
    with pytest.raises(ValueError, match="unknown encoder 'not-an-encoder'"):
        build_model(encoder="not-an-encoder", encoder_weights=None)


def test_config_literal_rejects_typo():
    with pytest.raises(ValueError, match="upsampler"):
        build_model(upsampler="fad")


@pytest.mark.parametrize("arch", ["unet", "fpn", "upernet"])
@pytest.mark.parametrize("upsampler", sorted(UPSAMPLERS))
def test_forward_backward_odd_size(arch, upsampler):
    model = build_model(arch=arch, upsampler=upsampler, encoder_weights=None, num_classes=3)
    x = torch.rand(1, 3, 70, 45)
    y = model(x)
    assert y.shape == (1, 3, 70, 45)
    y.mean().backward()
    assert all(p.grad is not None for p in model.head.parameters())


@pytest.mark.parametrize("channels", [1, 4, 8])
def test_any_number_of_input_channels(channels):
    model = build_model(in_channels=channels, mean=[0.5] * channels, std=[0.5] * channels, encoder_weights=None)
    assert model(torch.rand(2, channels, 64, 64)).shape == (2, 2, 64, 64)


def test_mean_std_length_checked():
    with pytest.raises(ValueError, match="mean and std need 4 values each"):
        build_model(in_channels=4, encoder_weights=None)


def test_any_timm_encoder_through_smp():
    model = build_model(encoder="tu-resnet18", encoder_weights=None)
    assert model(torch.rand(1, 3, 64, 64)).shape == (1, 2, 64, 64)


def test_a_model_is_one_line_by_name_and_a_builtin_is_not_replaced_by_mistake():
    """build_model("unet") failed with 'dictionary update sequence element #0 has length 1'; register_model
    silently replaced the built-in U-Net for every later build_model."""
    from agriseg.models import MODELS, build_model, register_model

    assert build_model("fpn", encoder_weights=None).config.arch == "fpn"
    before = MODELS["unet"]
    with pytest.raises(ValueError, match="already registered as 'unet'"):
        register_model("unet")(lambda cfg: None)
    assert MODELS["unet"] is before


def test_unknown_smp_unet_encoder_names_the_nearest_and_timm():
    """smp's own message listed about 80 encoders and never said tu-<timm model> works."""
    from agriseg.models.config import ModelConfig

    with pytest.raises(ValueError, match=r"did you mean resnet18.*'tu-<any timm model>'") as err:
        build_model(ModelConfig(arch="smp_unet", encoder="resnet19", encoder_weights=None, num_classes=3))
    assert len(str(err.value)) < 200


def test_a_std_of_the_wrong_length_is_refused() -> None:
    """``std: [0.5]`` for an RGB model is refused when the config is read (unchecked, it would be broadcast over
    the three channels)."""
    from agriseg.models.config import ModelConfig

    with pytest.raises(ValueError, match=r"mean and std need 3 values each .* got 3 and 1"):
        ModelConfig(mean=[0.5, 0.5, 0.5], std=[0.5])
    with pytest.raises(ValueError, match=r"mean and std need 4 values each .* got 4 and 3"):
        ModelConfig(in_channels=4, mean=[0.5] * 4)


def test_an_unknown_vit_adapter_size_lists_the_vit_adapter_names() -> None:
    """``vit_adapter_huge`` must not go on to smp, whose error would list its encoders, not the ViT-Adapter sizes."""
    from agriseg.models.encoders import custom_encoder_factory

    valid = "vit_adapter_base, vit_adapter_large, vit_adapter_small, vit_adapter_tiny"
    for name in ("vit_adapter_huge", "vit_adapter_smal:vit_small_patch14_dinov2"):
        with pytest.raises(ValueError, match=f"unknown encoder '{name}'; valid names: {valid}"):
            custom_encoder_factory(name)
    assert custom_encoder_factory("vit_adapter_small:vit_small_patch14_dinov2") is not None
    assert custom_encoder_factory("tu-resnet18") is None  # smp's


def test_encoder_weights_a_user_cannot_get_are_one_line_before_any_download(tmp_path, monkeypatch) -> None:
    """Session 84's sweep: ``encoder_weights: imagnet`` (a typo) on the offline lite0 encoder went to the hub for a
    minute; offline, a pretrained encoder ended in the hub's message or a chained traceback; a corrupt local
    weights file in safetensors' raw error."""
    import segmentation_models_pytorch as smp

    from agriseg.models.config import ModelConfig
    from agriseg.models.encoders import Encoder, check_smp_encoder, load_encoder_file
    from agriseg.models.io import ModelLoadError

    with pytest.raises(ValueError, match=r"encoder_weights 'imagnet' for tu-efficientnet_lite0: use null .*'imagenet'"):
        check_smp_encoder("tu-efficientnet_lite0", "imagnet")
    with pytest.raises(ValueError, match=r"encoder_weights 'advprop' for resnet18: use null \(random\), 'imagenet'"):
        check_smp_encoder("resnet18", "advprop")
    assert check_smp_encoder("resnet18", "swsl") == "swsl"

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files\nand more")

    from agriseg.data import download

    monkeypatch.setattr(download, "unreachable", lambda url: None)  # the hub answers: its own error is said

    monkeypatch.setattr(smp.encoders, "get_encoder", offline)
    with pytest.raises(ModelLoadError, match=r"encoder resnet18: its 'imagenet' weights could not be downloaded "
                                             r"\(We couldn't connect .*\); without a network set"):  # fmt: skip
        Encoder("resnet18", 3, "imagenet")
    monkeypatch.setattr(smp.Unet, "__init__", offline)
    with pytest.raises(ModelLoadError, match=r"encoder resnet18: its 'imagenet' weights could not be downloaded"):
        build_model(ModelConfig(arch="smp_unet", encoder="resnet18", encoder_weights="imagenet"))
    junk = tmp_path / "junk.safetensors"
    junk.write_text("junk")
    with pytest.raises(ModelLoadError, match=r"junk.safetensors: cannot load as encoder weights \("):
        load_encoder_file(torch.nn.Conv2d(1, 1, 1), str(junk))
