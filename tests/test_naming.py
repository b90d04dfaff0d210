"""One name for one concept: a walk over every command of every room. A shared concept (the data set, the batch
size, the image side, the output folder, the device...) is spelled the same way wherever it appears, and each
verb that several rooms have means the same thing in each. An old spelling may live on as a second name of the
same option, never as the first."""

import typer.main

from cnnlab.cli import app

# a spelling that must not be an option's first name -> the one every room uses
SYNONYMS = {
    "--dataset": "--data", "--images": "--data (a data set or folder to read)", "--data-root": "--data-dir",
    "--root": "--data-dir", "--batch": "--batch-size", "--bs": "--batch-size",
    "--size": "--image-size, or a name that says what it sizes (--window)",
    "--img-size": "--image-size", "--resolution": "--image-size", "--n-epochs": "--epochs",
    "--num-epochs": "--epochs", "--learning-rate": "--lr", "--output": "--out", "--out-dir": "--out",
    "--outdir": "--out", "--output-dir": "--out", "--runs": "--runs-dir", "--run-dir": "a RUN argument",
    "--gpu": "--device", "--cuda": "--device", "--k": "--top-k", "--topk": "--top-k",
}
# commands whose --images names a folder of image files beside other inputs (not the data set of a run)
IMAGE_FOLDER = {"segment via-to-masks"}
LOADS_A_MODEL = ("evaluate", "predict", "query", "cam", "maps", "sample", "invert", "interpolate")


def commands():
    """(path, click command) of every leaf command, e.g. ('classify train', <Command>); an old name kept
    working (hidden from the help) is not one."""
    def walk(cmd, path):
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                yield from walk(sub, [*path, name])
        elif not getattr(cmd, "hidden", False):
            yield " ".join(path), cmd

    return list(walk(typer.main.get_command(app), []))


def options(cmd):
    return [p for p in cmd.params if getattr(p, "param_type_name", "") == "option"]


def test_the_walk_sees_every_room():
    rooms = {path.split()[0] for path, _ in commands()}
    assert {"classify", "segment", "localize", "similarity", "generate", "explain", "models", "data"} <= rooms
    assert len(commands()) > 40


def test_no_shared_concept_is_spelled_two_ways():
    wrong = []
    for path, cmd in commands():
        for p in options(cmd):
            first = p.opts[0]
            if first in SYNONYMS and not (first == "--images" and path in IMAGE_FOLDER):
                wrong.append(f"cnnlab {path} {first}: spell it {SYNONYMS[first]}")
    assert not wrong, "\n".join(wrong)


def test_every_train_command_takes_the_shared_training_options():
    shared = {"--data", "--epochs", "--batch-size", "--image-size", "--seed", "--name", "--runs-dir", "--resume",
              "--overwrite", "--max-seconds", "--device"}
    missing = {}
    for path, cmd in commands():
        if path.endswith(" train"):
            names = {o for p in options(cmd) for o in p.opts}
            if shared - names:
                missing[path] = sorted(shared - names)
    assert not missing, missing


def test_commands_that_run_a_trained_model_take_a_device():
    missing = [path for path, cmd in commands() if path.split()[-1] in LOADS_A_MODEL
               and "--device" not in {o for p in options(cmd) for o in p.opts}]
    assert not missing, f"these run a model and take no --device: {missing}"


def test_evaluate_has_one_shape_in_every_room_that_judges_one_run():
    """`cnnlab TASK evaluate RUN` judges one of the run's splits (--split), writes the result to --out as JSON and
    runs on --device, in classify, segment and localize alike (segment and localize also judge other --data;
    similarity's evaluate compares several runs' retrieval, as compare does)."""
    shape = {"--split", "--out", "--device"}
    found = dict(commands())
    for task in ("classify", "segment", "localize"):
        cmd = found[f"{task} evaluate"]
        assert shape <= {o for p in options(cmd) for o in p.opts}, task
        assert [p.name for p in cmd.params if p.param_type_name == "argument"] == ["run"], task


def test_grad_cam_is_one_verb_for_every_task():
    """Grad-CAM is `cnnlab explain cam` for classify, similarity and localize runs alike; no room has an explain
    verb of its own."""
    paths = [path for path, _ in commands()]
    assert "explain cam" in paths
    assert not [p for p in paths if p.endswith(" explain")], paths
    cam = dict(commands())["explain cam"]
    assert "--target" in {o for p in options(cam) for o in p.opts}
    assert "localize" in cam.params[0].help


def test_one_list_of_tasks_and_each_predictor_in_its_room():
    """cnnlab.tasks is the one list: the rooms with a train command are its tasks, each predicting one has its
    predictor in TASK/predictor.py and an export, and nothing else keeps a list of its own."""
    import importlib
    import re
    from pathlib import Path

    import cnnlab
    from cnnlab.tasks import PREDICTING, TASKS

    trained = {path.split()[0] for path, _ in commands() if path.endswith(" train")}
    assert trained == set(TASKS) and set(PREDICTING) <= set(TASKS)
    assert all(callable(getattr(cnnlab, t).train) for t in TASKS)
    for task in PREDICTING:
        assert callable(importlib.import_module(f"cnnlab.{task}.predictor").load_predictor)
        assert callable(importlib.import_module(f"cnnlab.{task}.export").export_run)
    src = Path(cnnlab.__file__).parent
    lists = [str(p.relative_to(src)) for p in src.rglob("*.py") if p.name != "tasks.py"
             and re.search(r'^[A-Z_]+ = \("classify", "s', p.read_text(), re.M)]
    assert not lists, f"a list of tasks of its own: {lists}"
