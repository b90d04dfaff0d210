"""TensorBoard for a run, when asked for (`--tensorboard`): every epoch's numbers as scalars and the images a
task shows per epoch, in RUN/tensorboard/ (`tensorboard --logdir runs`)."""

from __future__ import annotations

from importlib.util import find_spec
from typing import TYPE_CHECKING

from cnnlab.errors import ConfigError
from cnnlab.options import said

if TYPE_CHECKING:
    import torch


def check_tensorboard(wanted: bool) -> None:
    """ConfigError when --tensorboard is asked for but the package is not installed (said before training)."""
    if wanted and find_spec("tensorboard") is None:
        raise ConfigError(f"{said('tensorboard', True)} needs the tensorboard package: pip install tensorboard (or "
                          f"leave {said('tensorboard', True)} out)")


class Board:
    """A SummaryWriter in run_folder/tensorboard, or nothing at all when not `enabled`."""

    def __init__(self, run_folder, enabled: bool) -> None:
        self.writer = None
        if enabled and run_folder is not None:
            check_tensorboard(True)
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run_folder / "tensorboard"))

    def epoch(self, record: dict, epoch: int) -> None:
        """Every number of an epoch's record, `train_loss` as train/loss; lists (per-class values) left out."""
        if self.writer is None:
            return
        for key, value in record.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and key != "epoch":
                self.writer.add_scalar(key.replace("_", "/", 1) if key.startswith(("train_", "val_")) else key,
                                       value, epoch)
        self.writer.flush()

    def image(self, tag: str, image: torch.Tensor, epoch: int) -> None:
        """An image (C, H, W) in [0, 1]."""
        if self.writer is not None:
            self.writer.add_image(tag, image.clamp(0, 1), epoch)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
