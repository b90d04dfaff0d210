"""--model-arg values are checked on the meta device before any memory is allocated."""

import resource

import pytest

from cnnlab.errors import ModelError
from cnnlab.models import create_model


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"dense": 0}, "no units"),
    ({"dense": -1}, "at least 1"),
    ({"bogus": 1}, "unexpected keyword"),
    ({"filters": "abc"}, "bad model arguments"),
    ({"kernel": 1000}, "cannot take 3x32x32"),
    ({"dense": 2**22}, "more than half of the"),
])
def test_bad_model_args_are_refused_with_the_reason(kwargs, message):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ModelError, match=message):
        create_model("baseline-cnn", 3, 10, 32 if "kernel" in kwargs else 128, **kwargs)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 200_000  # refused before the weights were allocated (a 2**22 dense layer is 800+ GB)


def test_a_sensible_model_still_builds_and_runs():
    model = create_model("baseline-cnn", 3, 10, 32, dense=16, filters=[8, 16])
    assert sum(p.numel() for p in model.parameters()) > 1000


def test_models_summary_reads_input_as_explain_layer_does(capsys):
    """One way to write an input shape in every command: HEIGHTxWIDTHxCHANNELS; the old CxHxW is refused with the
    spelling to use, never read as 3 rows of 32 channels."""
    from tests.cli import cnnlab

    code, said = cnnlab(capsys, "models", "summary", "baseline-cnn", "--input", "32x32x1")
    assert code == 0 and "baseline-cnn on a 32x32x1 input" in said and "(32, 30, 30)" in said, said
    code, said = cnnlab(capsys, "models", "summary", "baseline-cnn", "--input", "3x32x32")
    assert code == 2 and "pass 32x32x3" in said, said
    code, said = cnnlab(capsys, "models", "summary", "baseline-cnn", "--input", "32by32")
    assert code == 2 and "HEIGHTxWIDTHxCHANNELS" in said, said
