"""Bad values and bad files for every `cnnlab generate` verb: each ends with our error (exit 2, "error: ...")
and never a traceback. The table runs in this process through cnnlab.cli.main, as the console script does;
one subprocess case checks that the real command behaves the same."""

import argparse
import json

import pytest
import torch
from PIL import Image

from cnnlab.data.augment import AugmentConfig
from cnnlab.generate.config import GanConfig
from cnnlab.generate.training import train_gan
from tests.cli import cnnlab, fake_run, run_cli

LATENT = 16  # the test run's latent size


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """A trained (tiny) GAN run, runs of other shapes or damaged, and bad latents, images and folders."""
    ws = tmp_path_factory.mktemp("generate-bad")
    train_gan(GanConfig(data="digits:3", image_size=32, channels=1, width=0.25, latent_dim=LATENT, epochs=1,
                        batch_size=32, features="pixels", health_samples=16, augment=AugmentConfig(), device="cpu",
                        runs_dir=str(ws / "runs"), name="gan"))
    run = ws / "runs" / "generate" / "gan"
    config = (run / "config.json").read_text()
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)

    classify = {"data": {"name": "digits"}, "model": "baseline-cnn", "fit": {"epochs": 1}, "augment": {}}
    fake_run(ws / "classify-run", json.dumps(classify), {"model": {}, "spec": {"name": "baseline-cnn"}})
    segment = {"data": "digits", "image_size": 32, "encoder": "efficientnet_lite0", "epochs": 1,
               "finetune_epochs": 0, "augment": {}}
    unet = {"encoder": "efficientnet_lite0", "num_classes": 2, "in_channels": 1, "image_size": 32}
    fake_run(ws / "segment-run", json.dumps(segment), {"model": {}, "spec": unet, "classes": ["a", "b"]})
    fake_run(ws / "nockpt-run", config)
    fake_run(ws / "corrupt-run", config, b"\x00garbage")
    fake_run(ws / "empty-ckpt-run", config, b"")
    fake_run(ws / "no-trainer-run", config, {"model": {}})
    fake_run(ws / "mismatch-run", config, {**ckpt, "config": {**ckpt["config"], "latent_dim": 32}})
    fake_run(ws / "list-config-run", "[1, 2]", ckpt)
    fake_run(ws / "edited-run", config.replace('"image_size": 32', '"image_size": 48'), ckpt)
    (ws / "bad-runs" / "generate" / "other" / "checkpoints").mkdir(parents=True)
    (ws / "bad-runs" / "generate" / "other" / "config.json").write_text(json.dumps(classify))
    torch.save({"model": {}}, ws / "bad-runs" / "generate" / "other" / "checkpoints" / "last.pt")

    Image.new("L", (32, 32), 128).save(ws / "img.png")
    Image.new("L", (40, 30), 128).save(ws / "wide.png")
    (ws / "fake.png").write_text("not an image")
    (ws / "afile.txt").write_text("a file")
    (ws / "empty").mkdir()
    (ws / "folder.png").mkdir()
    (ws / "dir.pt").mkdir()
    (ws / "few").mkdir()
    for i in range(3):
        Image.new("RGB", (20, 20), (i * 50, 0, 0)).save(ws / "few" / f"{i}.png")
    (ws / "texts").mkdir()
    (ws / "texts" / "a.txt").write_text("no images here")
    (ws / "empty.pt").write_bytes(b"")
    (ws / "garbage.pt").write_bytes(b"PK\x03\x04 not really a zip")
    torch.save({"z": torch.zeros(LATENT)}, ws / "dict.pt")
    torch.save(torch.zeros(7), ws / "wrongdim.pt")
    torch.save(torch.zeros(2, LATENT), ws / "matrix.pt")
    torch.save(torch.full((LATENT,), float("nan")), ws / "nan.pt")
    torch.save(torch.arange(LATENT), ws / "int.pt")
    torch.save(argparse.Namespace(z=1), ws / "object.pt")  # a pickle of a class: refused unread
    return ws


G = ["generate", "train", "--data", "digits:3", "--image-size", "32", "--channels", "1", "--epochs", "1",
     "--batch-size", "32", "--width", "0.25", "--features", "pixels", "--runs-dir", "bad-runs", "--device", "cpu"]
TRAIN = [
    ("image-size-48", ["--image-size", "48"], "--image-size must be 32 or 64"),
    ("image-size-0", ["--image-size", "0"], "--image-size must be 32 or 64"),
    ("image-size-text", ["--image-size", "big"], "Invalid value"),
    ("channels-2", ["--channels", "2"], "--channels must be 1 (grayscale) or 3 (RGB)"),
    ("generator-unknown", ["--generator", "stylegan"], "Unknown --generator value 'stylegan'"),
    ("latent-0", ["--latent-dim", "0"], "--latent-dim must be >= 1"),
    ("latent-negative", ["--latent-dim", "-5"], "--latent-dim must be >= 1"),
    ("width-0", ["--width", "0"], "--width must be > 0"),
    ("width-nan", ["--width", "nan"], "--width must be finite"),
    ("epochs-0", ["--epochs", "0"], "--epochs must be >= 1"),
    ("epochs-negative", ["--epochs", "-3"], "--epochs must be >= 1"),
    ("batch-0", ["--batch-size", "0"], "--batch-size must be >= 1"),
    ("preset-unknown", ["--preset", "fast"], "Unknown --preset value 'fast'"),
    ("lr-d-0", ["--lr-d", "0"], "--lr-d must be > 0"),
    ("lr-g-negative", ["--lr-g", "-1e-4"], "--lr-g must be > 0"),
    ("lr-d-nan", ["--lr-d", "nan"], "--lr-d must be finite"),
    ("label-noise-negative", ["--label-noise", "-0.1"], "--label-noise must be >= 0"),
    ("label-noise-half", ["--label-noise", "0.6"], "--label-noise must be >= 0 and < 0.5"),
    ("augment-unknown", ["--augment", "spin"], "Unknown augmentation 'spin'"),
    ("augment-text-number", ["--augment", "rotation=abc"], "needs a number"),
    ("sample-every-0", ["--sample-every", "0"], "--sample-every must be >= 1"),
    ("features-unknown", ["--features", "inception"], "--features must be auto, efficientnet_lite0, pixels"),
    ("features-run-empty", ["--features", "run:"], "--features must be auto"),
    ("features-run-missing", ["--features", "run:missing"], "missing is not a folder"),
    ("features-run-segment", ["--features", "run:segment-run"], "is not a classifier run"),
    ("seed-negative", ["--seed", "-1"], "--seed must be >= 0"),
    ("device-unknown", ["--device", "gpu"], "--device must be auto, cpu"),
    ("precision-unknown", ["--precision", "fp8"], "'fp8' is not one of 'auto', 'fp32', 'bf16'"),
    ("max-seconds-0", ["--max-seconds", "0"], "--max-seconds must be > 0"),
    ("max-seconds-negative", ["--max-seconds", "-5"], "--max-seconds must be > 0"),
    ("name-parent", ["--name", "../escape"], "plain folder name"),
    ("name-absolute", ["--name", "/tmp/escape"], "plain folder name"),
    ("data-empty", ["--data", "folder:"], "--data must be a folder of photos"),
    ("data-missing-folder", ["--data", "missing/photos"], "image folder missing/photos does not exist"),
    ("data-missing-prefixed", ["--data", "folder:missing"], "image folder missing does not exist"),
    ("data-file", ["--data", "./afile.txt"], "afile.txt is not a folder"),
    ("data-unknown-dataset", ["--data", "imagenet"], "Unknown dataset 'imagenet'"),
    ("data-unknown-class", ["--data", "digits:eleven"], "digits has no class 'eleven'"),
    ("data-files-missing", ["--data", "cifar10:cat", "--data-dir", "empty"], "cifar10: expected"),
    ("data-few-images", ["--data", "few", "--channels", "3"], "gives 3 readable images; a GAN needs at least 16"),
    ("data-no-images", ["--data", "texts"], "no image files"),
    ("resume-missing", ["--resume", "--name", "never"], "cannot resume"),
    ("resume-other-task", ["--resume", "--name", "other"], "not a generate run"),
]

RUN = "{ws}/runs/generate/gan"
S = ["generate", "sample"]
SAMPLE = [
    ("run-missing", ["missing-run"], "missing-run is not a folder"),
    ("run-is-file", ["img.png"], "img.png is not a folder"),
    ("run-classify", ["classify-run"], "not a generate run"),
    ("run-segment", ["segment-run"], "not a generate run"),
    ("run-no-checkpoint", ["nockpt-run"], "has no checkpoint yet"),
    ("run-corrupt-checkpoint", ["corrupt-run"], "cannot be read"),
    ("run-empty-checkpoint", ["empty-ckpt-run"], "cannot be read"),
    ("run-not-a-gan-checkpoint", ["no-trainer-run"], "is not a GAN checkpoint"),
    ("run-weights-do-not-fit", ["mismatch-run"], "does not match its settings"),
    ("run-config-list", ["list-config-run"], "config.json holds a list"),
    ("run-config-edited", ["edited-run"], "has a bad value (--image-size must be 32 or 64"),
    ("n-0", [RUN, "-n", "0"], "-n must be from 1 to 1024, got 0"),
    ("n-negative", [RUN, "-n", "-4"], "-n must be from 1 to 1024, got -4"),
    ("n-huge", [RUN, "-n", "100000"], "-n must be from 1 to 1024, got 100000"),
    ("n-text", [RUN, "-n", "many"], "Invalid value"),
    ("seed-negative", [RUN, "--seed", "-1"], "--seed must be >= 0"),
    ("seed-huge", [RUN, "--seed", str(2**70)], "--seed must be >= 0"),
    ("out-suffix", [RUN, "--out", "samples.txt"], "--out must be an image file ending in .png"),
    ("out-no-suffix", [RUN, "--out", "samples"], "--out must be an image file ending in .png"),
    ("out-folder", [RUN, "--out", "folder.png"], "--out folder.png is a folder"),
    ("device-unknown", [RUN, "--device", "gpu"], "--device must be auto, cpu"),
]

INV = ["generate", "invert"]
INVERT = [
    ("image-missing", [RUN, "nothere.png"], "nothere.png does not exist"),
    ("image-not-an-image", [RUN, "fake.png"], "cannot read image fake.png"),
    ("image-folder", [RUN, "empty"], "empty is not an image file"),
    ("image-wrong-size", [RUN, "wide.png"], "pass --fit"),
    ("steps-0", [RUN, "img.png", "--steps", "0"], "--steps must be >= 1"),
    ("steps-negative", [RUN, "img.png", "--steps", "-5"], "--steps must be >= 1"),
    ("lr-0", [RUN, "img.png", "--lr", "0"], "--lr must be > 0"),
    ("lr-nan", [RUN, "img.png", "--lr", "nan"], "--lr must be finite"),
    ("scale-every-negative", [RUN, "img.png", "--scale-every", "-5"], "--scale-every must be >= 0"),
    ("factor-nan", [RUN, "img.png", "--factor", "nan"], "--factor must be finite"),
    ("factor-inf", [RUN, "img.png", "--factor", "inf"], "--factor must be finite"),
    ("seed-negative", [RUN, "img.png", "--seed", "-2"], "--seed must be >= 0"),
    ("out-is-file", [RUN, "img.png", "--out", "afile.txt"], "--out afile.txt is a file"),
    ("run-classify", ["classify-run", "img.png"], "not a generate run"),
]

N = ["generate", "interpolate"]
INTERPOLATE = [
    ("seed-text", [RUN, "seed:abc", "seed:1"], "seed:N takes a whole number"),
    ("seed-empty", [RUN, "seed:1", "seed:"], "seed:N takes a whole number"),
    ("seed-negative", [RUN, "seed:-1", "seed:1"], "seed:N takes a whole number"),
    ("seed-fraction", [RUN, "seed:1.5", "seed:1"], "seed:N takes a whole number"),
    ("seed-huge", [RUN, "seed:99999999999999999999999", "seed:1"], "seed:N takes a whole number"),
    ("latent-missing", [RUN, "missing.pt", "seed:1"], "latent file missing.pt does not exist"),
    ("latent-empty", [RUN, "empty.pt", "seed:1"], "empty.pt is empty (0 bytes)"),
    ("latent-garbage", [RUN, "garbage.pt", "seed:1"], "garbage.pt cannot be read as a latent"),
    ("latent-pickled-object", [RUN, "object.pt", "seed:1"], "object.pt cannot be read as a latent"),
    ("latent-dict", [RUN, "dict.pt", "seed:1"], "dict.pt holds a dict, not a latent tensor of 16 values"),
    ("latent-wrong-size", [RUN, "seed:1", "wrongdim.pt"], "shape (7,), but this generator takes latents of 16"),
    ("latent-matrix", [RUN, "seed:1", "matrix.pt"], "shape (2, 16), but this generator takes latents of 16"),
    ("latent-nan", [RUN, "seed:1", "nan.pt"], "nan.pt holds NaN or infinite values"),
    ("latent-integers", [RUN, "seed:1", "int.pt"], "int.pt holds torch.int64 values"),
    ("latent-folder", [RUN, "seed:1", "dir.pt"], "latent file dir.pt is not a file"),
    ("image-missing", [RUN, "seed:1", "nothere.png"], "nothere.png does not exist"),
    ("image-not-an-image", [RUN, "seed:1", "fake.png"], "cannot read image fake.png"),
    ("steps-0", [RUN, "seed:1", "seed:2", "--steps", "0"], "--steps must be >= 2"),
    ("steps-1", [RUN, "seed:1", "seed:2", "--steps", "1"], "--steps must be >= 2"),
    ("steps-negative", [RUN, "seed:1", "seed:2", "--steps", "-8"], "--steps must be >= 2"),
    ("steps-huge", [RUN, "seed:1", "seed:2", "--steps", "100000"], "--steps must be >= 2 and <= 100"),
    ("out-suffix", [RUN, "seed:1", "seed:2", "--out", "grid.txt"], "--out must be an image file"),
    ("out-folder", [RUN, "seed:1", "seed:2", "--out", "folder.png"], "--out folder.png is a folder"),
    ("run-segment", ["segment-run", "seed:1", "seed:2"], "not a generate run"),
]

NO_DATA = [
    ("no-data", ["generate", "train", "--epochs", "1"], "--data is needed"),
    ("no-data-resume-no-name", ["generate", "train", "--resume"], "--name says which run"),
    ("no-data-resume-unknown", ["generate", "train", "--resume", "--name", "never", "--runs-dir", "{ws}/runs"],
     "is not a folder"),
]

CASES = ([pytest.param(G + args, expected, id=f"train-{i}") for i, args, expected in TRAIN]
         + [pytest.param(args, expected, id=f"train-{i}") for i, args, expected in NO_DATA]
         + [pytest.param(S + args, expected, id=f"sample-{i}") for i, args, expected in SAMPLE]
         + [pytest.param(INV + args, expected, id=f"invert-{i}") for i, args, expected in INVERT]
         + [pytest.param(N + args, expected, id=f"interpolate-{i}") for i, args, expected in INTERPOLATE])


@pytest.mark.parametrize(("args", "expected"), CASES)
def test_bad_input_is_a_clear_error(ws, capsys, monkeypatch, args, expected):
    monkeypatch.chdir(ws)
    before = sorted(p.name for p in ws.iterdir())
    code, out = cnnlab(capsys, *(a.replace("{ws}", str(ws)) for a in args))
    assert code == 2 and "Traceback" not in out and "internal error" not in out, out
    assert expected in out, out
    if "Invalid value" not in expected:  # a value click itself refuses gets click's usage message
        assert "error:" in out, out
    assert sorted(p.name for p in ws.iterdir()) == before  # no output file or folder on a refused command
    assert not list((ws / "bad-runs" / "generate").glob("transposed-*"))  # no run folder left behind


def test_resume_without_data_uses_the_runs_own(ws, tmp_path):
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(ws / "runs" / "generate" / "gan", runs / "generate" / "gan")
    done = run_cli("generate", "train", "--resume", "--name", "gan", "--runs-dir", str(runs), "--epochs", "2",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((runs / "generate" / "gan" / "config.json").read_text())["epochs"] == 2
    assert len((runs / "generate" / "gan" / "metrics.jsonl").read_text().splitlines()) == 2


def test_the_real_command_prints_the_error_without_a_traceback(ws):
    done = run_cli("generate", "interpolate", str(ws / "runs" / "generate" / "gan"), "empty.pt", "seed:1", cwd=ws)
    said = done.stdout + done.stderr
    assert done.returncode == 2 and "Traceback" not in said and "internal error" not in said, said
    assert "empty.pt is empty (0 bytes)" in " ".join(done.stdout.split())
    assert "Aborted" not in done.stdout + done.stderr  # click's word for an EOFError, which this once was
