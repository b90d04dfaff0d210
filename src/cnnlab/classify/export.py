"""`cnnlab export` of a classify run: ONNX or safetensors, proven equal to the run's model on its own test
images before it is kept (figures in PATH.parity.json)."""

from __future__ import annotations

import json
from pathlib import Path

from cnnlab import atomic
from cnnlab.classify.config import ClassifyConfig
from cnnlab.classify.evaluate import load_classifier
from cnnlab.cliutil import fresh_path
from cnnlab.data.datasets import load_run_dataset
from cnnlab.models.export import (
    OnnxClassifier,
    check_options,
    check_parity,
    describe,
    load_safetensors,
    parity,
    sidecar,
    to_onnx,
    to_safetensors,
)

PARITY_IMAGES = 1000  # test images the export is checked on


def export_run(run: str | Path, fmt: str, out: str | Path | None = None, *, opset: int = 18,
               dynamic_batch: bool = True) -> dict:
    """Export the run's best model to `out` (default RUN/export/model.onnx or model.safetensors; an existing
    file is never replaced: model-2...) and check it; returns the path and the parity figures, which are also
written beside it (model.onnx.parity.json)."""
    check_options(fmt, opset, out)
    loaded = load_classifier(run, device="cpu")
    cfg = ClassifyConfig.from_dict(loaded.run.read_json("config.json"))
    test = load_run_dataset(loaded.run, cfg.data).test
    images = test.images[:PARITY_IMAGES].float() / 255  # (N, C, S, S) as the model takes them
    path = fresh_path(Path(out) if out else loaded.run.path / "export" / f"model.{fmt}")
    path.parent.mkdir(parents=True, exist_ok=True)
    info = describe(loaded.model, loaded.classes, loaded.run.path.name)
    if fmt == "onnx":
        to_onnx(loaded.model, path, info, opset=opset, dynamic_batch=dynamic_batch)
        figures = parity(loaded.model, OnnxClassifier.load(path), images)
        extra = [path]
    else:
        extra = [path, to_safetensors(loaded.model, path, info)]
        figures = parity(loaded.model, load_safetensors(path)[0], images)
    try:
        check_parity(figures, path)
    finally:
        if not path.exists():
            for other in extra[1:]:
                other.unlink(missing_ok=True)
    figures = {"format": fmt, "runtime": "onnxruntime" if fmt == "onnx" else "pytorch (rebuilt from the file)",
               "split": "test", **figures}
    atomic.write_text(sidecar(path, ".parity.json"), json.dumps(figures, indent=2))
    return {"path": str(path), **figures}
