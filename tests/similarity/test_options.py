"""Bad option values of the similarity commands are refused with our error before anything is read or written."""

import pytest
from typer.testing import CliRunner

from cnnlab.errors import ConfigError, RunFolderError
from cnnlab.similarity.cli import app
from cnnlab.similarity.config import SimilarityConfig
from tests.cli import run_cli

TRAIN = ["train", "--data", "digits", "--model", "baseline-cnn"]


@pytest.mark.parametrize("args,message", [
    ([*TRAIN, "--method", "bogus"], "--method"),
    ([*TRAIN, "--loss", "hinge"], "--loss"),
    ([*TRAIN, "--embedding-dim", "0"], "--embedding-dim"),
    ([*TRAIN, "--pairs", "0"], "--pairs"),
    ([*TRAIN, "--input-size", "3"], "--input-size"),
    ([*TRAIN, "--name", "../elsewhere"], "--name"),
    ([*TRAIN, "--epochs", "0"], "--epochs"),
    (["pairs-preview", "--data", "digits", "-n", "0", "--out", "OUT/p.png"], "-n must be"),
    (["index", "pixels", "--images", "digits", "--out", "OUT/idx", "--kind", "bogus"], "--kind"),
    (["index", "pixels", "--images", "digits", "--out", "OUT/idx", "--split", "everything"], "--split"),
    (["index", "pixels", "--images", "digits", "--out", "OUT/idx", "--image-size", "0"], "--image-size"),
    (["index", "pixels", "--images", "digits", "--out", "OUT/idx", "--device", "gpu"], "--device"),
    (["query", "OUT/no-index", "q.png", "-k", "0"], "-k must be"),
    (["query", "OUT/no-index", "q.png", "-k", "-5"], "-k must be"),
    (["tsne", "OUT/no-index", "--points", "0"], "--points"),
    (["two-classes", "OUT/no-run", "0", "1", "--refs", "0"], "--refs"),
    (["evaluate", "OUT/no-run", "--device", "tpu"], "--device"),
])
def test_bad_values_are_refused_before_anything_is_read_or_written(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    args = [a.replace("OUT", str(tmp_path)) for a in args]
    result = CliRunner().invoke(app, [*args, "--runs-dir", str(tmp_path)] if args[0] == "train" else args)
    assert isinstance(result.exception, ConfigError), (result.exception, result.output)
    assert message in str(result.exception)
    assert list(tmp_path.iterdir()) == []  # no run folder, index, figure or download


def test_config_values_are_checked_when_built():
    with pytest.raises(ConfigError, match="--method"):
        SimilarityConfig(method="bogus")
    with pytest.raises(RunFolderError, match="not a similarity run's config"):
        SimilarityConfig.from_dict(["not", "a", "config"])
    with pytest.raises(RunFolderError, match="similarity run"):
        SimilarityConfig.from_dict({**SimilarityConfig().to_dict(), "embedding_dim": -1})


def test_the_command_prints_the_refusal_without_a_traceback(tmp_path):
    done = run_cli("similarity", "train", "--method", "bogus", "--runs-dir", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2 and "--method" in done.stdout and "siamese" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr and list(tmp_path.iterdir()) == []


def test_outputs_never_replace_an_existing_file(digit_folder, tmp_path):
    from tests.cli import run_cli

    built = run_cli("similarity", "index", "pixels", "--images", str(digit_folder), "--out", str(tmp_path / "idx"),
                    cwd=tmp_path)
    assert built.returncode == 0, built.stdout + built.stderr
    query = tmp_path / "query.png"
    query.write_bytes((digit_folder / "class1" / "0.png").read_bytes())
    before = query.read_bytes()
    for _ in range(2):
        out = run_cli("similarity", "query", str(tmp_path / "idx"), str(query), "-k", "2", cwd=tmp_path)
        assert out.returncode == 0, out.stdout + out.stderr
    assert query.read_bytes() == before  # the default --out query.png was taken: query-2.png, then query-3.png
    assert (tmp_path / "query-2.png").stat().st_size > 1000 and (tmp_path / "query-3.png").is_file()


def test_appending_the_same_images_twice_adds_each_once(digit_folder, tmp_path):
    from tests.cli import run_cli

    idx = str(tmp_path / "idx")
    assert run_cli("similarity", "index", "pixels", "--images", str(digit_folder), "--out", idx,
                   cwd=tmp_path).returncode == 0
    again = run_cli("similarity", "index", "pixels", "--images", str(digit_folder), "--out", idx, "--append",
                    cwd=tmp_path)
    assert again.returncode == 2 and "in the index already" in " ".join(again.stdout.split())
    extra = tmp_path / "extra" / "class0"
    extra.mkdir(parents=True)
    for k in range(8):
        (extra / f"new{k}.png").write_bytes((digit_folder / "class0" / f"{k}.png").read_bytes())
    more = run_cli("similarity", "index", "pixels", "--images", str(tmp_path / "extra"), "--out", idx, "--append",
                   cwd=tmp_path)
    assert more.returncode == 0 and "added 8 images" in " ".join(more.stdout.split()), more.stdout + more.stderr
    twice = run_cli("similarity", "index", "pixels", "--images", str(tmp_path / "extra"), "--out", idx, "--append",
                    cwd=tmp_path)
    assert twice.returncode == 2 and "all 8 images are in the index already" in " ".join(twice.stdout.split())
