"""cnnlab.options: one mapping of options from the shell or from Python, checked against the command's
declaration, and messages that name an option as its giver writes it."""

import inspect
from pathlib import Path

import pytest

from cnnlab.classify import cli as classify_cli
from cnnlab.errors import CnnlabError
from cnnlab.options import Options, declarations, said
from cnnlab.session import session
from cnnlab.tasks import TASKS

WHERE = "cnnlab.classify.train()"


def test_python_values_are_checked_and_filled_in():
    opts = Options.from_python(classify_cli.train, {"epochs": "3", "lr": 1, "augment": ["hflip", "rotation=10"],
                                                    "model_arg": "kernel=5", "runs_dir": Path("r"),
                                                    "optimizer": "sgd", "pretrained": False}, WHERE)
    assert opts["epochs"] == 3 and opts["lr"] == 1.0 and isinstance(opts["lr"], float)
    assert opts["augment"] == "hflip,rotation=10" and opts["model_arg"] == ["kernel=5"] and opts["runs_dir"] == "r"
    assert opts["optimizer"] == "sgd" and opts["data"] == "digits" and opts["schedule"] is None  # recipe
    assert opts.given == {"epochs", "lr", "augment", "model_arg", "runs_dir", "optimizer", "pretrained"}


@pytest.mark.parametrize(("keywords", "message"), [
    ({"optimizer": "nope"}, r"optimizer must be one of adam, adamw, sgd, got 'nope'"),
    ({"epochs": True}, r"epochs takes a whole number, got True"),
    ({"lr": "fast"}, r"lr takes a number, got 'fast'"),
    ({"tta": 1}, r"tta is a yes/no option; pass True or False, not 1"),
    ({"data": object()}, r"data=<object .*> must be a string, number or path"),
    ({"ctx": 1}, r"has no option 'ctx'"),
])
def test_bad_python_values_name_the_keyword(keywords, message):
    with pytest.raises(CnnlabError, match=message):
        Options.from_python(classify_cli.train, keywords, WHERE)


@pytest.mark.parametrize("task", TASKS)
def test_every_train_command_declares_the_options_its_room_reads(task):
    """What the room's config function reads is what the command declares: the defaults alone build a config
    (generate needs data: its default is the run's own on resume)."""
    from importlib import import_module

    command = import_module(f"cnnlab.{task}.cli").train
    room = import_module(f"cnnlab.{task}.options")
    assert set(inspect.signature(room.config).parameters) == {"opts"}
    keywords = {"data": "digits"} if task == "generate" else {}
    with session(python=True):
        cfg = room.config(Options.from_python(command, keywords, f"cnnlab.{task}.train()"))
    assert type(cfg).__name__.endswith("Config")
    assert set(declarations(command)) >= {"data", "name", "runs_dir", "resume", "overwrite", "seed", "device"}


def test_said_follows_the_session():
    assert said("freeze_epochs") == "--freeze-epochs" and said("rank", False) == "--no-rank"
    assert said("epochs", 3) == "--epochs 3"
    with session(python=True):
        assert said("freeze_epochs") == "freeze_epochs" and said("rank", False) == "rank=False"
        with session():  # a command run inside: flags again
            assert said("resume", True) == "--resume"
