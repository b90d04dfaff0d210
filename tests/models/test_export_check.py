"""The shared export check: nothing is kept without images to check it on."""

import pytest
import torch

from cnnlab.models.export import ExportError
from cnnlab.models.export_check import ExportJob, export_checked


def test_an_export_with_no_images_to_check_it_on_is_refused(tmp_path):
    job = ExportJob("segment", torch.nn.Identity(), ("logits",), {"task": "segment"}, torch.zeros(0, 1, 8, 8), "val",
                    rebuild=None, measure=None, judge=None, said=None)
    with pytest.raises(ExportError, match="the run has no val images to check an export on"):
        export_checked(job, "safetensors", tmp_path / "m.safetensors")
    assert not list(tmp_path.iterdir())
