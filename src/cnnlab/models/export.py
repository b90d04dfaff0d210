"""A trained classifier taken out of its run folder: ONNX (its preprocessing inside the graph, what it takes
and which classes it names in the metadata) or safetensors (weights, with a JSON beside them that rebuilds the
model), each checked against the PyTorch model on real images before it is kept.

The exported model takes float32 images (N, C, S, S) in [0, 1] at the run's image size, like the PyTorch
model; resizing to the network's input and normalising happen inside."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cnnlab import atomic
from cnnlab.errors import CnnlabError, ConfigError
from cnnlab.models.base import ImageClassifier, ModelSpec

FORMATS = ("onnx", "safetensors")
MAX_LOGIT_DIFF = 1e-3  # parity: largest |ONNX Runtime - PyTorch| logit allowed
METADATA_KEY = "cnnlab"


class ExportError(CnnlabError):
    """An export that failed its parity check, or a file that is not a cnnlab export."""


def describe(model: ImageClassifier, classes: list[str], run: str) -> dict:
    """What an exported classifier is and takes (stored in the ONNX metadata and beside safetensors)."""
    from cnnlab import __version__

    spec = model.spec
    return {"task": "classify", "cnnlab": __version__, "run": run, "spec": spec.to_dict(), "classes": classes,
            "input": f"float32 (N, {spec.in_channels}, {spec.image_size}, {spec.image_size}) in [0, 1]",
            "mean": model.mean.flatten().tolist(), "std": model.std.flatten().tolist()}


def check_options(fmt: str, opset: int, out: str | Path | None = None) -> None:
    """ConfigError for a format or opset out of range, an --out not named for the format, or a format whose
    packages are not installed."""
    from importlib.util import find_spec

    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if out is not None and Path(out).suffix.lower() != f".{fmt}":
        raise ConfigError(f"--out {out} must end in .{fmt} for --format {fmt}")
    if not isinstance(opset, int) or not 17 <= opset <= 23:
        raise ConfigError(f"--opset must be from 17 to 23, got {opset!r}")
    needs = ("onnx", "onnxruntime", "onnxscript") if fmt == "onnx" else ("safetensors",)
    missing = [name for name in needs if find_spec(name) is None]
    if missing:
        raise ConfigError(f"--format {fmt} needs {', '.join(missing)}: pip install 'cnnlab[export]'")


def to_onnx(model: ImageClassifier, path: Path, info: dict, *, opset: int = 18, dynamic_batch: bool = True) -> None:
    """Write `model` as ONNX to `path` (whole or not at all), with `info` as JSON in its metadata."""
    import onnx

    spec = model.spec
    example = torch.rand(2 if dynamic_batch else 1, spec.in_channels, spec.image_size, spec.image_size)
    shapes = ({0: torch.export.Dim("batch", min=1)},) if dynamic_batch else None
    with atomic.replacing(path) as tmp:
        try:
            torch.onnx.export(model.eval().cpu(), (example,), str(tmp), dynamo=True, dynamic_shapes=shapes,
                              opset_version=opset, input_names=["images"], output_names=["logits"], verbose=False,
                              external_data=False)  # one file (a CNN here is far below ONNX's 2 GB limit)
        except Exception as exc:  # the exporter raises many kinds for an operator it cannot translate
            raise ExportError(f"{spec.name} cannot be exported to ONNX opset {opset} ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:200]}); try another --opset") from exc
        graph = onnx.load(str(tmp))
        graph.metadata_props.add(key=METADATA_KEY, value=json.dumps(info))
        onnx.save(graph, str(tmp))
        Path(f"{tmp}.data").unlink(missing_ok=True)  # an exporter that wrote weights apart anyway


def to_safetensors(model: ImageClassifier, path: Path, info: dict) -> Path:
    """Write the weights to `path` and `info` to PATH.json beside them; returns the JSON's path."""
    from safetensors.torch import save_file

    beside = sidecar(path, ".json")
    if beside.exists():
        raise ExportError(f"{beside} exists already; choose another --out (cnnlab does not replace it)")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic.replacing(path) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", METADATA_KEY: json.dumps(info)})
    atomic.write_text(beside, json.dumps(info, indent=2))
    return beside


def sidecar(path: Path, suffix: str) -> Path:
    """A file that belongs to the export at `path`: model.safetensors -> model.safetensors.json (never a name
    another file of the run, or another export's, could have)."""
    return path.with_name(path.name + suffix)


@dataclass
class OnnxClassifier:
    """An exported classifier run by ONNX Runtime, called like the PyTorch model: float images (N, C, S, S) in
    [0, 1] -> logits (N, K) as a CPU tensor."""

    path: Path
    session: object
    info: dict
    batch: int | None  # the fixed batch size of an export without --dynamic-batch

    @classmethod
    def load(cls, path: str | Path) -> OnnxClassifier:
        check_options("onnx", 18)
        import onnx
        import onnxruntime

        path = Path(path)
        if not path.is_file():
            raise ExportError(f"{path} is not a file; give a .onnx file written by `cnnlab export`")
        try:
            meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
            info = json.loads(meta[METADATA_KEY])
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnx and onnxruntime raise many kinds for a file that is not theirs
            raise ExportError(f"{path} is not an ONNX model exported by cnnlab ({type(exc).__name__}); export a run "
                              "with `cnnlab export RUN --format onnx`") from None
        dim = session.get_inputs()[0].shape[0]
        return cls(path, session, info, dim if isinstance(dim, int) else None)

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec(**self.info["spec"])

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.info["classes"]]

    @property
    def mean(self) -> torch.Tensor:  # where inputs go: the CPU (as ImageClassifier.mean tells its device)
        return torch.zeros(1)

    def eval(self) -> OnnxClassifier:
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.detach().cpu().float().numpy()
        step = self.batch or len(x)
        outs = [self.session.run(None, {"images": x[i:i + step]})[0] for i in range(0, len(x), step)]
        return torch.from_numpy(np.concatenate(outs))


def load_safetensors(path: str | Path) -> tuple[ImageClassifier, dict]:
    """A classifier rebuilt from NAME.safetensors and the NAME.json beside it (no run folder needed)."""
    from safetensors.torch import load_file

    from cnnlab.models.registry import model_from_spec

    path = Path(path)
    beside = sidecar(path, ".json")
    try:
        info = json.loads(beside.read_text())
        model = model_from_spec(info["spec"])
        model.load_state_dict(load_file(str(path)))
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise ExportError(f"{path} with {beside} is not a classifier exported by cnnlab ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:160]})") from None
    return model.eval(), info


def parity(reference: ImageClassifier, candidate, images: torch.Tensor, batch: int = 64) -> dict:
    """Logits of `candidate` vs `reference` on images (N, C, S, S) in [0, 1]: the largest absolute difference
    and the share of images whose top-1 class agrees."""
    diffs, agree = [], 0
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = images[i:i + batch]
            a, b = reference(x).float(), candidate(x).float()
            diffs.append(float((a - b).abs().max()))
            agree += int((a.argmax(1) == b.argmax(1)).sum())
    return {"images": len(images), "max_abs_logit_diff": max(diffs), "top1_agreement": agree / len(images)}


def check_parity(figures: dict, path: Path) -> None:
    """ExportError (and the file removed) when an export differs from its model beyond the tolerance."""
    if figures["top1_agreement"] < 1.0 or figures["max_abs_logit_diff"] > MAX_LOGIT_DIFF:
        path.unlink(missing_ok=True)
        raise ExportError(f"the export differs from the model: top-1 agreement {figures['top1_agreement']:.2%} on "
                         f"{figures['images']} images, largest logit difference {figures['max_abs_logit_diff']:.2e} "
                         f"(allowed: 100%, {MAX_LOGIT_DIFF}); it was not kept")
