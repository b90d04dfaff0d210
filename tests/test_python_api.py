"""The Python API that mirrors the command line: `cnnlab.<task>.train(**options)` returns a Run, and
`cnnlab.open_run` opens one."""

import json
import subprocess
import sys

import pytest

import cnnlab
from cnnlab.errors import CnnlabError, RunFolderError
from tests.cli import cnnlab as cli

DIGITS = {"data": "digits", "image_size": 32, "epochs": 3, "batch_size": 64, "lr": 3e-3}


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    return cnnlab.classify.train(**DIGITS, augment=["hflip"], name="api", runs_dir=root / "runs")


def test_train_returns_a_run_that_learnt(digits_run):
    run = digits_run
    assert run.task == "classify" and run.name == "api" and run.status == "finished"
    assert run.summary["test_acc"] > 0.5  # ten classes: chance is 0.1
    assert [r["epoch"] for r in run.history] == [1, 2, 3]
    assert {"report", "config", "summary", "best", "last", "history"} <= set(run.paths)
    assert all(p.is_file() for p in run.paths.values())
    assert run.config["augment"]["hflip"] and run.config["fit"]["epochs"] == 3  # the list became hflip
    assert "test acc" in repr(run) and "3 epochs" in repr(run)


def test_run_shows_its_summary_and_curves(digits_run):
    page = digits_run._repr_html_()
    assert "classify run api" in page and "<img src='data:image/png;base64," in page
    assert f"{digits_run.summary['test_acc']:.4g}" in page
    fig = digits_run.plot()
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "acc"]
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["train", "val"]
    with pytest.raises(RunFolderError, match="no curve miou"):
        digits_run.plot(["miou"])


def test_run_loads_its_predictor(digits_run):
    import numpy as np

    predictions = digits_run.load(device="cpu").predict([np.zeros((32, 32), dtype=np.uint8)])
    assert len(predictions) == 1 and predictions[0].label in [str(d) for d in range(10)]


def test_the_same_as_the_command_line(digits_run, tmp_path, capsys):
    """The keywords reach the same config as the options typed at the command line."""
    code, said = cli(capsys, "classify", "train", "--data", "digits", "--image-size", "32", "--epochs", "3",
                     "--batch-size", "64", "--lr", "0.003", "--augment", "hflip", "--name", "api",
                     "--runs-dir", tmp_path / "runs")
    assert code == 0, said
    typed = json.loads((tmp_path / "runs/classify/api/config.json").read_text())
    given = digits_run.config
    typed.pop("runs_dir"), given.pop("runs_dir")
    assert typed == given


def test_bad_keywords_are_our_errors_and_leave_no_folder(tmp_path):
    runs = tmp_path / "runs"
    with pytest.raises(CnnlabError, match="no option 'epoch'; did you mean epochs"):
        cnnlab.classify.train(data="digits", epoch=2, runs_dir=runs)
    with pytest.raises(CnnlabError, match="epochs takes a whole number, got 'many'"):
        cnnlab.classify.train(data="digits", epochs="many", runs_dir=runs)
    with pytest.raises(CnnlabError, match="yes/no option"):
        cnnlab.classify.train(data="digits", pretrained="yes", runs_dir=runs)
    with pytest.raises(CnnlabError, match="Unknown dataset"):
        cnnlab.classify.train(data="no-such-data", epochs=1, runs_dir=runs)
    assert not runs.exists() or not any(runs.rglob("config.json"))


def test_messages_name_keywords_not_flags(digits_run):
    with pytest.raises(RunFolderError, match=r"pass resume=True to continue it, overwrite=True to replace it"):
        cnnlab.classify.train(**DIGITS, name="api", runs_dir=digits_run.path.parent.parent)


def test_interrupted_run_comes_back_and_resumes(tmp_path, monkeypatch):
    from cnnlab.train import engine

    plain_init = engine.Engine.__init__

    def stop_after_one(epoch, record):
        if epoch == 1:
            raise KeyboardInterrupt

    def init(self, *args, callbacks=(), **kwargs):
        plain_init(self, *args, callbacks=(*callbacks, stop_after_one), **kwargs)

    monkeypatch.setattr(engine.Engine, "__init__", init)
    run = cnnlab.classify.train(**DIGITS, name="cut", runs_dir=tmp_path)
    assert run.status == "interrupted" and len(run.history) == 1
    monkeypatch.setattr(engine.Engine, "__init__", plain_init)
    resumed = cnnlab.classify.train(**DIGITS, name="cut", runs_dir=tmp_path, resume=True)
    assert resumed.path == run.path and resumed.status == "finished" and len(resumed.history) == 3


def test_localize_train_from_python(tmp_path):
    run = cnnlab.localize.train(data="digits", model="baseline-cnn", pretrained=False, image_size=48,
                                freeze_epochs=0, finetune_epochs=4, finetune_lr=3e-3, batch_size=32,
                                runs_dir=tmp_path, name="boxes")
    assert run.task == "localize" and len(run.history) == 4
    assert run.summary["mean_iou"] > run.summary["baseline_mean_iou"]
    assert "iou" in " ".join(run.curves())
    assert run.paths["last_epoch"].parent.name == "epochs"  # the newest picture of true and predicted boxes


@pytest.mark.parametrize("task", ["segment", "similarity", "generate"])
def test_every_task_has_a_train_function(task, tmp_path):
    with pytest.raises(CnnlabError, match=r"has no option 'epochz'; did you mean epochs"):
        getattr(cnnlab, task).train(epochz=1, runs_dir=tmp_path)


def test_open_run(digits_run, tmp_path):
    assert cnnlab.open_run(digits_run.path).summary == digits_run.summary
    with pytest.raises(RunFolderError, match="not a cnnlab run folder"):
        cnnlab.open_run(tmp_path)


def test_import_stays_light():
    code = "import sys, cnnlab; cnnlab.classify.train; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_interrupted_before_the_first_epoch_leaves_nothing(tmp_path, monkeypatch):
    """As on the command line: nothing to resume, so the folder goes and Ctrl-C reaches the caller."""
    from cnnlab.train import loop

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "run_epoch", stop)
    with pytest.raises(KeyboardInterrupt):
        cnnlab.classify.train(**DIGITS, name="early", runs_dir=tmp_path)
    assert not (tmp_path / "classify" / "early").exists()


def test_values_of_the_wrong_shape_are_refused_by_name(tmp_path):
    with pytest.raises(CnnlabError, match=r"epochs takes a whole number, got 1.5"):
        cnnlab.classify.train(data="digits", epochs=1.5, runs_dir=tmp_path)
    with pytest.raises(CnnlabError, match=r"epochs takes one value, got \[1, 2\]"):
        cnnlab.classify.train(data="digits", epochs=[1, 2], runs_dir=tmp_path)
    with pytest.raises(CnnlabError, match=r"^cnnlab.classify.train\(\): epochs must be >= 1"):
        cnnlab.classify.train(data="digits", epochs=0, runs_dir=tmp_path)


def test_runs_dir_that_is_a_file_is_our_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(RunFolderError, match="afile is a file, not a folder"):
        cnnlab.classify.train(**DIGITS, runs_dir=tmp_path / "afile", name="z")


def test_plot_takes_one_metric_by_name_and_tasks_are_listed(digits_run):
    assert [ax.get_title() for ax in digits_run.plot("acc").axes] == ["acc"]
    assert {"classify", "segment", "localize", "similarity", "generate"} <= set(dir(cnnlab))


def test_arrays_are_read_by_their_range_not_clipped(digits_run):
    """0..255 images as floats were once clipped to [0, 1] (all white) and predicted wrongly without a word."""
    import numpy as np
    from sklearn.datasets import load_digits

    images = np.round(load_digits().images[:20] * 255 / 16)
    model = digits_run.load(device="cpu")
    as_bytes = [p.label for p in model.predict(list(images.astype(np.uint8)))]
    assert [p.label for p in model.predict(list(images.astype(np.int64)))] == as_bytes
    assert [p.label for p in model.predict(list((images / 255).astype(np.float32)))] == as_bytes
    with pytest.raises(CnnlabError, match=r"float array with values 0..239; floats are read as \[0, 1\]"):
        model.predict(list(images.astype(np.float32)))
    with pytest.raises(CnnlabError, match=r"integer array with values -1..255"):
        model.predict([np.full((8, 8), -1, dtype=np.int16) + np.eye(8, dtype=np.int16) * 256])


def test_callbacks_reach_every_epoch_and_messages_reach_logging(tmp_path, caplog):
    """callbacks=[...] of cnnlab.TASK.train are called after every epoch with the record metrics.jsonl keeps
    (the hook for MLflow or W&B), and what the run says goes to logging.getLogger('cnnlab') as well."""
    import logging

    seen = []

    def recorder(epochs_done, record):
        seen.append((epochs_done, record["val_acc"]))

    with caplog.at_level(logging.INFO, logger="cnnlab"):
        run = cnnlab.classify.train(data="digits", epochs=2, train_per_class=20, runs_dir=tmp_path, name="cb",
                                    callbacks=[recorder])
    assert [e for e, _ in seen] == [1, 2] and [a for _, a in seen] == [r["val_acc"] for r in run.history]
    said = [r.getMessage() for r in caplog.records if r.name == "cnnlab"]
    assert any("baseline-cnn on digits" in m for m in said), said
    with pytest.raises(CnnlabError, match="callables"):
        cnnlab.classify.train(data="digits", epochs=1, runs_dir=tmp_path, name="bad", callbacks=["print"])
    assert not (tmp_path / "classify" / "bad").exists()


def test_keywords_reach_the_room_without_the_command_line_parser(tmp_path, monkeypatch):
    """From Python the options go straight to the room's function from options to a run: no argv is built and
    click never parses one (a message names keywords because the session says Python, not by rewriting)."""
    import click

    def no_parser(*args, **kwargs):
        raise AssertionError("the command-line parser ran")

    monkeypatch.setattr(click.Command, "main", no_parser)
    monkeypatch.setattr(click.Command, "parse_args", no_parser)
    run = cnnlab.classify.train(**{**DIGITS, "epochs": 1}, name="direct", runs_dir=tmp_path)
    assert run.status == "finished" and run.config["fit"]["epochs"] == 1


@pytest.mark.parametrize(("keywords", "said"), [
    ({"epochs": 3, "freeze_epochs": 5}, r"freeze_epochs 5 is more than epochs 3"),
    ({"per_class": 4}, r"per_class takes 2 to half the batch size .* with method metric; got 4 with method siamese"),
    ({"model": "auto", "pretrained": True}, r"model auto picks the backbone .* pass model_arg, pretrained=True or"),
])
def test_deep_messages_name_keywords_from_python(keywords, said, tmp_path):
    task = "similarity" if "per_class" in keywords or "model" in keywords else "classify"
    with pytest.raises(CnnlabError, match=said) as caught:
        getattr(cnnlab, task).train(data="digits", runs_dir=tmp_path, **keywords)
    assert "--" not in str(caught.value)


def test_resume_differences_name_keywords(digits_run):
    with pytest.raises(CnnlabError, match=r"resume=True continues a run with its own settings.*lr: .*overwrite=True"):
        cnnlab.classify.train(**{**DIGITS, "lr": 0.01}, name="api", runs_dir=digits_run.path.parent.parent,
                              resume=True)
