import numpy as np
import pytest
import torch
from PIL import Image

from agriseg.models.encoders import Encoder
from agriseg.weights.lite0 import lite0_timm_state_dict


def test_lite0_weights_are_real_imagenet_weights():
    import timm
    from skimage import data

    model = timm.create_model("efficientnet_lite0")
    model.load_state_dict(lite0_timm_state_dict())
    model.eval()
    img = np.asarray(Image.fromarray(data.chelsea()).resize((224, 224), Image.BILINEAR)) / 255.0
    x = torch.tensor((img - 0.5) / 0.5, dtype=torch.float32).permute(2, 0, 1)[None]
    with torch.no_grad():
        top = model(x).argmax(1).item()
    assert 281 <= top <= 285, f"chelsea classified as ImageNet class {top}, not a cat"


@pytest.mark.parametrize("channels", [3, 8])
def test_encoder_loads_lite0_for_any_channels(channels):
    enc = Encoder("tu-efficientnet_lite0", channels, "imagenet")
    ref = lite0_timm_state_dict()
    own = enc.body.model.state_dict()
    assert torch.equal(own["blocks.2.0.conv_pw.weight"], ref["blocks.2.0.conv_pw.weight"])
    assert own["conv_stem.weight"].shape[1] == channels
    if channels == 3:
        assert torch.equal(own["conv_stem.weight"], ref["conv_stem.weight"])
