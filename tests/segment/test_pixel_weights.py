"""Pixel-class weights for segmentation (`--class-weights auto`): the rule on known masks, the weighted loss, and
a rare class on real digit images that the weighted run finds more of than the plain one."""

import json

import pytest
import torch
import torch.nn.functional as F

from cnnlab.segment.augment import NONE
from cnnlab.segment.metrics import scores
from cnnlab.segment.training import SegmentConfig, segmentation_step, train_unet
from cnnlab.train.balance import class_weights
from tests.cli import cnnlab
from tests.conftest import digit_masks


def test_the_weights_make_every_class_weigh_the_same_and_the_loss_uses_them():
    masks = torch.zeros(4, 10, 10, dtype=torch.long)
    masks[:, :1] = 1  # 10% of the pixels
    w = class_weights(masks, 3)  # class 2 has no pixel
    assert torch.allclose(w, torch.tensor([400 / (3 * 360), 400 / (3 * 40), 0.0]))
    assert torch.allclose(w[0] * 360, w[1] * 40)  # each class present weighs N / K in all
    logits = torch.randn(4, 3, 10, 10)
    step = segmentation_step(3, w)
    got = step(lambda x: x, logits, masks).loss
    assert torch.allclose(got, F.cross_entropy(logits, masks, weight=w))
    assert not torch.allclose(got, segmentation_step(3)(lambda x: x, logits, masks).loss)
    # mean class accuracy: the recall of each class present, averaged (a majority guess scores 1 / K)
    majority = scores(torch.tensor([[90, 0], [10, 0]]))
    assert majority["pixel_acc"] == 0.9 and majority["mean_acc"] == 0.5 and majority["class_acc"] == [1.0, 0.0]


@pytest.fixture
def rare_folder(tmp_path, digits):
    """images/ and masks/ of 60 real digits at 32 px; the class is the brightest ink (about a tenth of the pixels)."""
    return digit_masks(tmp_path / "ink", digits[0], 60, lambda x: x > 220)


def test_a_rare_class_is_found_more_often_with_weights(rare_folder, tmp_path):
    def run(weights):
        cfg = SegmentConfig(data=f"folder:{rare_folder}", image_size=32, encoder="resnet18", pretrained=False,
                            augment=NONE, class_weights=weights,
                            freeze_epochs=0, finetune_epochs=2, finetune_lr=1e-3, batch_size=8,
                            name=weights, runs_dir=str(tmp_path / "runs"))
        return train_unet(cfg)

    plain, weighted = run("none"), run("auto")
    assert weighted["class_weights"] == "auto" and plain["class_weights"] == "none"
    assert weighted["val_mean_acc"] > plain["val_mean_acc"] + 0.05, (plain, weighted)
    log = (tmp_path / "runs/segment/auto/log.txt").read_text()
    assert "pixel-class weights: 0 " in log and "% of pixels" in log
    config = json.loads((tmp_path / "runs/segment/auto/config.json").read_text())
    assert SegmentConfig.from_dict(config.get("config", config)).class_weights == "auto"


def test_a_weight_rule_that_does_not_exist_is_refused_before_any_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out = cnnlab(capsys, "segment", "train", "--class-weights", "sometimes")
    assert code == 2 and "class" in out and "auto" in out and not (tmp_path / "runs").exists()
