"""A localizer trained with letterboxing on drawn shapes of several aspects (a bright square on noise), shared by
the letterbox and Grad-CAM tests: about 8 seconds on one thread."""

import pytest
import torch

from cnnlab.localize.config import LocalizeConfig
from cnnlab.localize.training import train_localizer
from tests.localize.formats import write_shapes


@pytest.fixture(scope="session")
def shapes_run(tmp_path_factory):
    """(run folder, summary) of a letterboxed single-head run on 300 wide, tall and square shape images."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads on the shared 2-core machine run these small nets slower than one
    try:
        root = tmp_path_factory.mktemp("shapes")
        path = write_shapes(root / "data", 300)
        summary = train_localizer(LocalizeConfig(data=f"csv:{path}", model="baseline-cnn", pretrained=False,
                                                 image_size=48, resize="letterbox", freeze_epochs=0,
                                                 finetune_epochs=15, finetune_lr=3e-3, batch_size=32, device="cpu",
                                                 runs_dir=str(root / "runs"), name="shapes"))
    finally:
        torch.set_num_threads(threads)
    return root / "runs" / "localize" / "shapes", summary
