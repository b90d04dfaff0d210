import pytest
import torch

from cnnlab.errors import ModelError, UnknownNameError
from cnnlab.models import count_parameters, create_model, list_models, model_from_spec
from cnnlab.models.summary import summarize

SHAPES = {"densenet-seed": (1, 28), "fashion-cnn": (1, 28)}


@pytest.mark.parametrize("name", list_models())
def test_contract(name):
    """Every zoo model: right output shape, no NaN, a gradient for every trainable parameter (airnet fixes its
    whitening filters and BatchNorm scales), save/load round trip."""
    channels, size = SHAPES.get(name, (3, 32))
    torch.manual_seed(0)
    model = create_model(name, channels, 7, size)
    x = torch.rand(2, channels, size, size)
    out = model(x)
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    out.square().sum().backward()
    missing = [n for n, p in model.named_parameters()
               if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)]
    assert not missing, f"parameters without gradient: {missing[:5]}"
    clone = model_from_spec(model.spec)
    clone.load_state_dict(model.state_dict())
    model.eval()
    clone.eval()
    assert torch.equal(model(x), clone(x))
    assert model.forward_head(model.forward_features(x)).shape == (2, 7)


def test_baseline_cnn_has_the_seed_parameter_count():
    assert count_parameters(create_model("baseline-cnn", 3, 10, 32)) == 122_570


def test_densenet_seed_matches_keras_count_once_bn_statistics_are_added():
    model = create_model("densenet-seed", 1, 10, 28)
    assert count_parameters(model) == 889_996
    running = sum(b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var")))
    assert count_parameters(model) + running == 906_610  # what Keras reports for the seed


def test_timm_models_are_available():
    model = create_model("timm:resnet18", 3, 5, 32)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 5)
    with pytest.raises(UnknownNameError, match="timm model"):
        create_model("timm:resnet_does_not_exist", 3, 5, 32)


def test_too_small_image_gets_a_clear_error():
    with pytest.raises(ModelError, match=r"cannot take 1x8x8.*--image-size"):
        create_model("baseline-cnn", 1, 10, 8)


def test_unknown_model_suggests():
    with pytest.raises(UnknownNameError, match="Did you mean 'resnet34'"):
        create_model("resnet-34", 3, 10, 32)


def test_summary_counts_params_macs_and_memory():
    model = create_model("baseline-cnn", 3, 10, 32)
    s = summarize(model, (3, 32, 32), batch_size=8)
    assert s.params == sum(r.params for r in s.rows) == 122_570
    first = s.rows[0]
    assert first.output_shape == (32, 30, 30)
    assert first.macs == 30 * 30 * 32 * (3 * 3 * 3) + 30 * 30 * 32  # multiplies + bias adds
    assert s.activation_bytes_per_batch == 8 * s.activation_bytes_per_image > 4 * 32 * 30 * 30
