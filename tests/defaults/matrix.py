"""Defaults that work everywhere: every room's train command given only the built-in data (and a time budget, so
the suite stays short) trains, and its run then evaluates, predicts and exports with no other option. The
options left out are the defaults a new user gets: model, image size, recipe, epochs, batch, augmentation.
The rooms are split over two test files (test_*.py here), so that the suite's two workers share them."""

import json

import numpy as np
import pytest
from PIL import Image

from tests.cli import cnnlab
from tests.conftest import shared_path

BUDGET = "2"  # training seconds: the budget ends the run mid-epoch, after the step that spends it
ROOMS = [  # (task, data, the verbs after train with their extra arguments)
    ("classify", "digits", [("evaluate",), ("predict", "{image}"), ("export",)]),
    ("segment", "digits", [("evaluate",), ("predict", "{image}", "--out", "{out}"), ("export",)]),
    ("localize", "digits", [("evaluate",), ("predict", "{image}", "--out", "{out}"), ("export",)]),
    ("localize", "digits-multi", [("evaluate",), ("predict", "{image}", "--out", "{out}")]),
    ("similarity", "digits", [("evaluate",), ("index", "--data", "digits", "--out", "{out}"), ("export",)]),
    ("generate", "digits", [("sample", "--out", "{out}/grid.png")]),
]
SHARED_ROOMS = [  # ../shared's sets, where present: (task, data, folder in ../shared/data or None, verbs)
    ("classify", "fashion-mnist", "fashion-mnist-subset", [("evaluate",), ("predict", "{image}"), ("export",)]),
    ("similarity", "fashion-mnist", "fashion-mnist-subset", [("export",)]),  # its evaluate: digits' row
    *((task, "oxford-pet:{shared}", "oxford-pet-3breeds", [("evaluate",), ("predict", "{image}", "--out", "{out}")])
      for task in ("segment", "localize")),
    ("classify", "cifar10", "cifar10-jpeg", [("evaluate",)]),
    ("classify", "flowers17", "flowers17", [("evaluate",)]),
    ("segment", "isbi:{shared}", "isbi-membrane", [("evaluate",)]),
]


@pytest.fixture(scope="module")
def digit_image(tmp_path_factory):
    from sklearn.datasets import load_digits

    digit = (load_digits().images[0] * 255 / 16).astype(np.uint8)
    path = tmp_path_factory.mktemp("images") / "digit.png"
    Image.fromarray(digit).resize((32, 32)).save(path)
    return path


def rooms(*tasks: str):
    """The parametrisation of these tasks' rows."""
    rows = [r for r in ROOMS if r[0] in tasks]
    return pytest.mark.parametrize(("task", "data", "verbs"), rows, ids=[f"{t}-{d}" for t, d, _ in rows])


def shared_rooms(*tasks: str):
    """The parametrisation of these tasks' rows on ../shared's data sets."""
    rows = [r for r in SHARED_ROOMS if r[0] in tasks]
    return pytest.mark.parametrize(("task", "data", "folder", "verbs"), rows, ids=[f"{t}-{f}" for t, _, f, _ in rows])


def only_shared_data_given(task, data, folder, verbs, image, tmp_path, capsys):
    """As only_the_data_given, on a ../shared set (skipped when it is absent): a set named by --data with its
    files in --data-dir, or a FORMAT:PATH."""
    path = shared_path(folder)
    if "{shared}" in data:
        only_the_data_given(task, data.format(shared=path), verbs, image, tmp_path, capsys)
    else:
        only_the_data_given(task, data, verbs, image, tmp_path, capsys, "--data-dir", path)


def only_the_data_given(task, data, verbs, image, tmp_path, capsys, *data_dir):
    runs = tmp_path / "runs"
    code, said = cnnlab(capsys, task, "train", "--data", data, *data_dir, "--max-seconds", BUDGET, "--runs-dir",
                        runs, "--name", "defaults")
    assert code == 0, said
    run = runs / task / "defaults"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "budget-spent"
    for n, (verb, *extra) in enumerate(verbs):
        out = tmp_path / f"out{n}"
        args = [a.format(image=image, out=out) for a in extra]
        code, said = cnnlab(capsys, *(("export", run) if verb == "export" else (task, verb, run)), *args)
        assert code == 0, f"{task} {verb}: {said}"
    if any(verb == "export" for verb, *_ in verbs):
        assert (run / "export" / "model.onnx").is_file()
