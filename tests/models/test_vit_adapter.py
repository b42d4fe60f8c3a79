"""ViT-Adapter encoder: shapes, gradients, registry names, sizes, weights, and a save/load round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from agriseg.models import build_model
from agriseg.models.config import ModelConfig
from agriseg.models.encoders import CUSTOM_ENCODERS, Encoder
from agriseg.models.vit_adapter import ViTAdapterEncoder, build_vit_adapter
from agriseg.models.vit_adapter.sizes import interaction_groups

# published UperNet totals (mmseg, 512-channel head), ViT-Adapter paper / ADE20K configs
PUBLISHED_MILLIONS = {"tiny": 36.1, "small": 57.6}


def n_params(model: torch.nn.Module) -> float:
    return sum(p.numel() for p in model.parameters()) / 1e6


@pytest.fixture(scope="module")
def tiny() -> ViTAdapterEncoder:
    torch.manual_seed(0)
    return build_vit_adapter("vit_adapter_tiny")


def test_tiny_pyramid_shapes_and_channels(tiny):
    tiny.eval()
    with torch.no_grad():
        feats = tiny(torch.rand(2, 3, 64, 96))
    assert tiny.out_channels == [64, 192, 192, 192, 192]
    assert [tuple(f.shape) for f in feats] == [
        (2, 64, 32, 48),
        (2, 192, 16, 24),
        (2, 192, 8, 12),
        (2, 192, 4, 6),
        (2, 192, 2, 3),
    ]
    assert all(torch.isfinite(f).all() for f in feats)


def test_tiny_backward_reaches_vit_adapter_and_gamma(tiny):
    tiny.train()
    tiny.zero_grad()
    feats = tiny(torch.rand(2, 3, 64, 64))
    sum(f.square().mean() for f in feats).backward()
    inj = tiny.interactions[0].injector
    assert torch.count_nonzero(inj.gamma) == 0  # learnable gamma starts at 0 ...
    assert inj.gamma.grad is not None and inj.gamma.grad.abs().sum() > 0  # ... and learns
    for name in (
        "vit.blocks.0.attn.qkv.weight",
        "vit.patch_embed.proj.weight",
        "spm.fc2.weight",
        "interactions.3.extractors.2.ffn.dwconv.weight",
        "interactions.1.extractors.0.attn.sampling_offsets.weight",
    ):
        grad = dict(tiny.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name
    assert not tiny.vit.cls_token.requires_grad  # prefix tokens are unused by the adapter


def test_published_structure(tiny):
    assert tiny.groups == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]
    assert [len(b.extractors) for b in tiny.interactions] == [1, 1, 1, 3]  # 2 extra extractors at the end
    attn = tiny.interactions[0].injector.attn
    assert (attn.n_heads, attn.n_points, attn.n_levels) == (6, 4, 3)
    assert tiny.interactions[0].extractors[0].ffn.fc1.out_features == 48  # ConvFFN hidden 0.25 * 192
    assert interaction_groups(24)[1] == [6, 7, 8, 9, 10, 11]
    with pytest.raises(ValueError, match="cannot be split"):
        interaction_groups(10)


@pytest.mark.parametrize("upsampler", ["bilinear", "fade", "dysample", "carafe"])
def test_upernet_any_upsampler_odd_sizes(upsampler):
    torch.manual_seed(0)
    model = build_model(
        arch="upernet",
        encoder="vit_adapter_tiny",
        upsampler=upsampler,
        encoder_weights=None,
        num_classes=3,
        decoder_channels=32,  # a narrow head keeps the test fast; the encoder is the full tiny size
    )
    for size in ((70, 45), (33, 100)):
        y = model(torch.rand(2, 3, *size))
        assert y.shape == (2, 3, *size)
    y.logsumexp(1).mean().backward()
    assert model.head.weight.grad is not None and model.head.weight.grad.abs().sum() > 0


def test_vit_upsampler_fade_inside_the_adapter():
    torch.manual_seed(0)
    enc = ViTAdapterEncoder("tiny", vit_upsampler="fade").eval()
    with torch.no_grad():
        feats = enc(torch.rand(1, 3, 64, 64))
    assert feats[1].shape == (1, 192, 16, 16) and len(enc.vit_up) == 3


def test_unet_and_fpn_take_the_adapter_too():
    for arch in ("unet", "fpn"):
        y = build_model(arch=arch, encoder="vit_adapter_tiny", encoder_weights=None)(torch.rand(2, 3, 40, 40))
        assert y.shape == (2, 2, 40, 40)


def test_registry_names_and_errors():
    assert {"vit_adapter_tiny", "vit_adapter_small", "vit_adapter_base", "vit_adapter_large"} <= set(CUSTOM_ENCODERS)
    with pytest.raises(ValueError, match="vit_adapter_base, vit_adapter_large, vit_adapter_small, vit_adapter_tiny"):
        build_model(arch="upernet", encoder="vit_adapter_huge", encoder_weights=None)
    with pytest.raises(ValueError, match="unknown encoder 'not-an-encoder'.*vit_adapter_tiny"):
        Encoder("not-an-encoder")
    with pytest.raises(ValueError, match="unknown timm model"):
        build_vit_adapter("vit_adapter_tiny:not_a_timm_vit")
    with pytest.raises(ValueError, match="not a plain ViT"):
        build_vit_adapter("vit_adapter_tiny:resnet18")


def test_smp_encoders_unchanged():
    enc = Encoder("resnet18", 3, None)
    assert not enc.custom and enc.out_channels == [64, 64, 128, 256, 512]
    assert len(enc(torch.rand(1, 3, 64, 64))) == 5


def test_decoder_channels_plumbing():
    m = build_model(arch="upernet", encoder="resnet18", encoder_weights=None, decoder_channels=32)
    assert m.decoder.out_channels == 32 and m.head.in_channels == 32
    m = build_model(arch="fpn", encoder="resnet18", encoder_weights=None, decoder_channels=24)
    assert m.decoder.lateral[0].out_channels == 24
    assert build_model(arch="upernet", encoder="resnet18", encoder_weights=None).decoder.out_channels == 128
    with pytest.raises(ValueError, match="decoder_channels applies to arch fpn or upernet, not 'unet'"):
        build_model(arch="unet", encoder="resnet18", encoder_weights=None, decoder_channels=64)
    with pytest.raises(ValueError, match="decoder_channels"):
        ModelConfig(decoder_channels=0)


@pytest.mark.parametrize("size", ["tiny", "small"])
def test_parameter_counts_match_published(size):
    model = build_model(arch="upernet", encoder=f"vit_adapter_{size}", encoder_weights=None, decoder_channels=512)
    assert n_params(model) == pytest.approx(PUBLISHED_MILLIONS[size], rel=0.05)


@pytest.mark.slow
@pytest.mark.parametrize(("size", "dim", "millions"), [("base", 768, 133.9), ("large", 1024, 363.8)])
def test_large_sizes_build(size, dim, millions):
    model = build_model(arch="upernet", encoder=f"vit_adapter_{size}", encoder_weights=None, decoder_channels=512)
    assert model.encoder.out_channels[1:] == [dim] * 4
    assert n_params(model) == pytest.approx(millions, rel=0.05)


def test_other_timm_vits_patch14_and_register_tokens():
    torch.manual_seed(0)
    enc = build_vit_adapter("vit_adapter_small:vit_small_patch14_reg4_dinov2").eval()
    assert enc.patch_size == 14 and enc.out_channels[1] == 384
    with torch.no_grad():
        feats = enc(torch.rand(1, 3, 64, 96))
    assert [f.shape[-2:] for f in feats] == [(32, 48), (16, 24), (8, 12), (4, 6), (2, 3)]


def _saved_deit_tiny(tmp_path: Path, suffix: str, wrap: bool) -> tuple[Path, dict[str, torch.Tensor]]:
    import timm

    torch.manual_seed(1)
    sd = timm.create_model("deit_tiny_patch16_224", pretrained=False).state_dict()
    path = tmp_path / f"deit_tiny{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(sd, str(path))
    else:
        torch.save({"model": sd} if wrap else sd, path)
    return path, sd


@pytest.mark.parametrize(("suffix", "wrap"), [(".safetensors", False), (".pth", True)])
def test_local_vit_weights_file(tmp_path, suffix, wrap):
    path, sd = _saved_deit_tiny(tmp_path, suffix, wrap)
    enc = build_vit_adapter("vit_adapter_tiny", weights=str(path))
    torch.testing.assert_close(enc.vit.blocks[5].mlp.fc1.weight, sd["blocks.5.mlp.fc1.weight"])
    torch.testing.assert_close(enc.vit.pos_embed, sd["pos_embed"])
    enc4 = build_vit_adapter("vit_adapter_tiny", in_channels=4, weights=str(path))  # stem adapted
    assert enc4.vit.patch_embed.proj.weight.shape[1] == 4
    torch.testing.assert_close(enc4.vit.blocks[0].attn.qkv.weight, sd["blocks.0.attn.qkv.weight"])


def test_bad_weights_are_clear_errors(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(FileNotFoundError, match=f"^{missing}"):
        build_vit_adapter("vit_adapter_tiny", weights=str(missing))
    with pytest.raises(ValueError, match="encoder_weights 'deit'"):
        build_vit_adapter("vit_adapter_tiny", weights="deit")
    path, _ = _saved_deit_tiny(tmp_path, ".pth", False)
    with pytest.raises(ValueError, match="does not fit the ViT"):
        build_vit_adapter("vit_adapter_small", weights=str(path))  # DeiT-T weights into a DeiT-S


def test_save_load_round_trip(tmp_path):
    from agriseg.models.io import load_model, save_model

    torch.manual_seed(0)
    cfg = ModelConfig(
        arch="upernet",
        encoder="vit_adapter_tiny",
        encoder_weights=None,
        upsampler="fade",
        decoder_channels=32,
    )
    model = build_model(cfg).eval()
    x = torch.rand(1, 3, 50, 70)
    with torch.no_grad():
        want = model(x)
    path = save_model(model, cfg, tmp_path / "m.safetensors", half=False)
    loaded, cfg2 = load_model(path)
    assert cfg2.encoder == "vit_adapter_tiny" and cfg2.decoder_channels == 32
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), want)


def test_timm_download_failure_is_explained(monkeypatch):
    import timm

    def offline(*args, **kwargs):
        if kwargs.get("pretrained"):
            raise OSError("no network")
        raise AssertionError("should not be reached")

    monkeypatch.setattr(timm, "create_model", offline)
    from agriseg.data import download
    from agriseg.models.io import ModelLoadError  # exit status 2, one line (session 84: a chained traceback)

    monkeypatch.setattr(download, "unreachable", lambda url: None)  # the hub answers: its own error is said

    with pytest.raises(ModelLoadError, match=r"weights could not be downloaded \(no network\); without a network set "
                                             r"model.encoder_weights to null or a local"):  # fmt: skip
        build_vit_adapter("vit_adapter_tiny", weights="imagenet")
