"""`cnnlab export` of a similarity run's embedding: ONNX and safetensors checked against the run on its test images
(embedding difference, nearest-neighbour agreement), `cnnlab.load` from the files giving the run's vectors, and an
export that differs refused with the figures."""

import json

import numpy as np
import pytest

from cnnlab.data.datasets import DataConfig
from cnnlab.similarity.config import SimilarityConfig
from cnnlab.similarity.training import train_similarity
from cnnlab.train import FitConfig
from tests.cli import cnnlab
from tests.exports import break_onnx_exports, image_folder
from tests.exports import one_thread as _one_thread

pytest.importorskip("onnxruntime")
one_thread = pytest.fixture(scope="module")(_one_thread)


@pytest.fixture(scope="module")
def run(tmp_path_factory, one_thread):
    root = tmp_path_factory.mktemp("simexport")
    cfg = SimilarityConfig(data=DataConfig("digits", image_size=16), model="baseline-cnn", method="metric",
                           model_args={"filters": [8, 16], "dense": 16}, embedding_dim=32,
                           fit=FitConfig(epochs=1, device="cpu"), runs_dir=str(root), name="m")
    return train_similarity(cfg).run.path


@pytest.fixture
def images(tmp_path, digits):
    return image_folder(tmp_path, digits)


@pytest.mark.parametrize("fmt", ["onnx", "safetensors"])
def test_an_export_gives_the_run_s_embeddings(run, images, tmp_path, capsys, fmt):
    from cnnlab import load
    from cnnlab.similarity.predictor import EmbeddingPrediction

    out = tmp_path / f"embed.{fmt}"
    code, said = cnnlab(capsys, "export", run, "--format", fmt, "--out", out)
    assert code == 0 and "nearest-neighbour agreement 100.00%" in said and "test images" in said, said
    figures = json.loads((tmp_path / f"embed.{fmt}.parity.json").read_text())
    assert figures["passed"] and figures["split"] == "test" and figures["images"] >= 300
    assert figures["max_abs_embedding_diff"] < 1e-4 and figures["top1_neighbour_agreement"] == 1.0
    info = json.loads(out.with_name(out.name + ".json").read_text()) if fmt == "safetensors" else None
    assert info is None or (info["task"] == "similarity" and info["embedding_dim"] == 32 and info["method"] == "metric")
    from_run, from_file = load(run, device="cpu"), load(out)
    a, b = from_run.predict(images), from_file.predict(images)
    assert all(isinstance(p, EmbeddingPrediction) for p in a) and [p.source for p in a] == [p.source for p in b]
    va, vb = from_run.embed(images), from_file.embed(images)
    assert va.shape == (4, 32) and np.allclose(np.linalg.norm(va, axis=1), 1, atol=1e-5)
    assert np.abs(va - vb).max() < 1e-4 and np.allclose(va, np.stack([p.vector for p in a]))


def test_the_metadata_says_what_the_vectors_are(run, tmp_path, capsys):
    import onnx

    assert cnnlab(capsys, "export", run)[0] == 0  # default: RUN/export/model.onnx
    info = json.loads({p.key: p.value for p in onnx.load(str(run / "export" / "model.onnx")).metadata_props}
                      ["cnnlab"])
    assert info["task"] == "similarity" and info["method"] == "metric" and info["embedding_dim"] == 32
    assert info["channels"] == 1 and info["image_size"] == 16 and "unit length" in info["outputs"]["embedding"]


def test_an_export_that_differs_is_refused_with_the_figures(run, tmp_path, capsys, monkeypatch):
    break_onnx_exports(monkeypatch)
    code, said = cnnlab(capsys, "export", run, "--out", tmp_path / "bad.onnx")
    assert code == 2 and "the export differs from the model: largest embedding difference" in said, said
    assert not (tmp_path / "bad.onnx").exists()
    figures = json.loads((tmp_path / "bad.onnx.parity.json").read_text())
    assert not figures["passed"] and figures["max_abs_embedding_diff"] > 1e-3


def test_wrong_files_are_clear_errors(run, tmp_path):
    import cnnlab
    from cnnlab.similarity.exported import load_exported

    (tmp_path / "l.safetensors").write_bytes(b"")
    (tmp_path / "l.safetensors.json").write_text(json.dumps({"task": "localize", "spec": {}, "classes": []}))
    with pytest.raises(cnnlab.CnnlabError, match="is an export of a localize model; give a similarity export"):
        load_exported(tmp_path / "l.safetensors")
    (tmp_path / "s.safetensors.json").write_text(json.dumps({"task": "similarity", "spec": {}, "classes": []}))
    (tmp_path / "s.safetensors").write_bytes(b"\x00")
    with pytest.raises(cnnlab.CnnlabError, match="not a safetensors file cnnlab wrote"):
        cnnlab.load(tmp_path / "s.safetensors")
    with pytest.raises(cnnlab.CnnlabError, match="is not a file"):
        cnnlab.load(tmp_path / "gone.onnx")
