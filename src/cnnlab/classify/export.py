"""`cnnlab export` of a classify run: ONNX or safetensors, proven equal to the run's model on its own test
images before it is kept (figures in PATH.parity.json)."""

from __future__ import annotations

from pathlib import Path

from cnnlab.classify.config import ClassifyConfig
from cnnlab.classify.evaluate import load_classifier
from cnnlab.cliutil import fresh_path
from cnnlab.data.datasets import load_run_dataset
from cnnlab.models.export import check_options, describe, load_safetensors
from cnnlab.models.export_check import ExportJob, export_checked, judge_classifier, parity

PARITY_IMAGES = 1000  # test images the export is checked on


def said(figures: dict) -> str:
    return (f"top-1 agreement {figures['top1_agreement']:.2%} with the run's model on {figures['images']} test "
            f"images, largest logit difference {figures['max_abs_logit_diff']:.1e}")


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
    job = ExportJob("classify", loaded.model, ("logits",), describe(loaded.model, loaded.classes, loaded.run.path.name),
                    images, "test", lambda file: load_safetensors(file)[0],
                    lambda reference, candidate, x: parity(reference, candidate, x), judge_classifier, said)
    return export_checked(job, fmt, path, opset=opset, dynamic_batch=dynamic_batch)
