"""Every bad option or file handed to the shared verbs (classify, data, models, report) gets our own error:
exit code 2, a message, no traceback, and nothing written anywhere."""

import json
import shlex

import pytest
import torch

from tests.cli import cnnlab

BAD_TRAIN = [
    "--batch-size 0", "--batch-size -5", "--image-size 0", "--image-size 100000", "--val-fraction 0",
    "--val-fraction 1.5", "--train-per-class 0", "--channels 2", "--label-smoothing 5", "--device banana",
    "--lr -1", "--lr nan", "--lr inf", "--epochs 0", "--epochs -3", "--optimizer bogus", "--schedule bogus",
    "--augment rotation=abc", "--augment bogus", "--augment rotation=400", "--augment grayscale=2",
    "--warmup-epochs -1", "--model-arg dense=0", "--model-arg kernel=1000", "--model-arg noequals",
    "--model-arg filters=abc", "--patience 0", "--ema 1.5", "--grad-clip -1", "--seed -1", "--name ../x",
    "--name /tmp/abs", "--name a/b", "--recipe bogus", "--precision fp8", "--channels-last maybe", "--data bogus",
    "--data folder:/nonexistent/folder", "--data folder:", "--max-seconds -5", "--input-size 3",
    "--freeze-epochs -1", "--weights /nonexistent/w.pt --pretrained", "--model resnet43", "--model timm:nonet",
    "--momentum 2", "--weight-decay -1", "--data cifar10 --data-dir /nonexistent",
    "--data-dir /nonexistent --data fashion-mnist", "--backbone-lr-scale -1",
]


def files_under(path) -> set:
    return {p.relative_to(path) for p in path.rglob("*")}


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    return tmp_path


def check_refused(argv: list[str], sandbox, capsys, expect: str | None = None) -> str:
    before = files_under(sandbox)
    code, out = cnnlab(capsys, *argv)
    assert code == 2, f"{argv}: exit {code}\n{out}"
    assert "error:" in out and "Traceback" not in out, out
    if expect:
        assert expect in " ".join(out.split()), out
    assert files_under(sandbox) == before, f"{argv} left {files_under(sandbox) - before}"
    return out


@pytest.mark.parametrize("option", BAD_TRAIN)
def test_classify_train_refuses_bad_options_before_writing(option, sandbox, capsys):
    check_refused(["classify", "train", "--epochs", "1", *shlex.split(option)], sandbox, capsys)


@pytest.fixture
def foreign_runs(sandbox):
    """Folders that look like runs but are not classify runs, or are damaged."""
    runs = {}
    seg = sandbox / "runs" / "segment" / "seg"
    (seg / "checkpoints").mkdir(parents=True)
    (seg / "config.json").write_text(json.dumps({"data": "isbi:x", "encoder": "efficientnet_lite0"}))
    (seg / ".cnnlab-run").write_text(json.dumps({"task": "segment"}))
    runs["segment"] = seg
    listed = sandbox / "runs" / "classify" / "list"
    (listed / "checkpoints").mkdir(parents=True)
    (listed / "config.json").write_text("[1, 2]")
    runs["list-config"] = listed
    other = sandbox / "runs" / "classify" / "other-model"
    (other / "checkpoints").mkdir(parents=True)
    (other / "config.json").write_text("{}")
    torch.save({"model": {"w": torch.zeros(2)}, "epoch": 1}, other / "checkpoints" / "best.pt")
    runs["other-checkpoint"] = other
    empty = sandbox / "runs" / "classify" / "empty-ckpt"
    (empty / "checkpoints").mkdir(parents=True)
    (empty / "config.json").write_text("{}")
    (empty / "checkpoints" / "best.pt").write_bytes(b"")
    runs["zero-byte-checkpoint"] = empty
    runs["not-a-folder"] = sandbox / "nope"
    runs["no-config"] = sandbox / "empty"
    return runs


@pytest.mark.parametrize("kind", ["segment", "list-config", "other-checkpoint", "zero-byte-checkpoint",
                                  "not-a-folder", "no-config"])
@pytest.mark.parametrize("verb", ["predict", "evaluate", "report"])
def test_verbs_on_folders_that_are_not_classify_runs(verb, kind, foreign_runs, sandbox, capsys):
    run_dir = str(foreign_runs[kind])
    argv = {"predict": ["classify", "predict", run_dir, "empty"], "evaluate": ["classify", "evaluate", run_dir],
            "report": ["report", run_dir]}[verb]
    check_refused(argv, sandbox, capsys)


@pytest.mark.parametrize("argv", [
    "classify evaluate empty --split bogus", "classify compare nope1 nope2", "classify augment-preview -n 0",
    "classify augment-preview --variants 0", "classify augment-preview --augment bogus", "data download bogus",
    "models summary bogus", "models summary baseline-cnn --input 3x0x32", "models summary baseline-cnn --input abc",
    "models summary baseline-cnn --batch 0", "models summary baseline-cnn --classes 0",
    "classify transfer-compare --freeze-epochs 0", "classify sweep --epochs 0", "quickstart --epochs 0",
    "classify predict empty empty --top-k 0",
])
def test_other_shared_verbs_refuse_bad_values(argv, sandbox, capsys):
    check_refused(shlex.split(argv), sandbox, capsys)


def test_predict_refuses_a_negative_top_k_on_a_real_run(sandbox, capsys):
    code, out = cnnlab(capsys, "classify", "train", "--epochs", "1", "--image-size", "16", "--model-arg",
                       "filters=8,16", "--name", "ok")
    assert code == 0, out
    check_refused(["classify", "predict", "runs/classify/ok", "empty", "--top-k", "-1"], sandbox, capsys, "--top-k")
