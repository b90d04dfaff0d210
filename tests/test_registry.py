import pytest

from cnnlab.errors import CnnlabError, UnknownNameError
from cnnlab.registry import Registry


def test_duplicate_name_raises():
    reg = Registry("thing")
    reg.register("a")(lambda: 1)
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("a")(lambda: 2)


def test_unknown_name_suggests_close_names():
    reg = Registry("model")
    for name in ("resnet34", "lenet5", "baseline-cnn"):
        reg.register(name)(lambda: None)
    with pytest.raises(UnknownNameError, match="Did you mean 'resnet34'") as info:
        reg.get("resnet43")
    assert isinstance(info.value, CnnlabError)
    assert "baseline-cnn" in str(info.value)
