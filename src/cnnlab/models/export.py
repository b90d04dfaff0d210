"""A trained model taken out of its run folder: ONNX (its preprocessing inside the graph, what it is, takes and
puts out in the metadata) or safetensors (weights, with a JSON beside them that rebuilds the model), for every
task with a CNN. `cnnlab.models.export_check` checks an export against the PyTorch model before it is kept.

An exported model takes float32 images (N, C, S, S) in [0, 1] at the run's image size, like the PyTorch
model; resizing to the network's input and normalising happen inside."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from cnnlab import atomic
from cnnlab.errors import CnnlabError, ConfigError
from cnnlab.models.base import ImageClassifier, ModelSpec

FORMATS = ("onnx", "safetensors")
METADATA_KEY = "cnnlab"


class ExportError(CnnlabError):
    """An export that failed its parity check, or a file that is not a cnnlab export (of the task asked for)."""


def export_info(task: str, run: str, *, channels: int, image_size: int, mean: list[float], std: list[float],
                classes: list[str], outputs: dict[str, str], **extra) -> dict:
    """What every export says about itself (the ONNX metadata, the JSON beside safetensors): the task, the input
    it takes and how it is prepared inside, the classes, and what each output holds."""
    from cnnlab import __version__

    return {"task": task, "cnnlab": __version__, "run": run,
            "input": f"float32 (N, {channels}, {image_size}, {image_size}) in [0, 1]",
            "channels": channels, "image_size": image_size,
            "preprocessing": "inside the model: grayscale repeated to the network's channels where it takes 3, "
                             "resized to the network's input, (x - mean) / std per channel",
            "mean": [float(v) for v in mean], "std": [float(v) for v in std], "classes": list(classes),
            "outputs": outputs, **extra}


def describe(model: ImageClassifier, classes: list[str], run: str) -> dict:
    """What an exported classifier is and takes."""
    spec = model.spec
    return export_info("classify", run, channels=spec.in_channels, image_size=spec.image_size,
                       mean=model.mean.flatten().tolist(), std=model.std.flatten().tolist(), classes=classes,
                       outputs={"logits": "float32 (N, K): class logits (softmax gives probabilities), K = classes"},
                       spec=spec.to_dict())


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


def to_onnx(model: nn.Module, path: Path, info: dict, *, opset: int = 18, dynamic_batch: bool = True,
            outputs: tuple[str, ...] = ("logits",)) -> None:
    """Write `model` (float images (N, C, S, S) in [0, 1] -> a tensor, or a tuple of tensors named `outputs`) as
    ONNX to `path` (whole or not at all), with `info` as JSON in its metadata; C and S come from `info`."""
    import onnx

    size = info["image_size"]
    example = torch.rand(2 if dynamic_batch else 1, info["channels"], size, size)
    shapes = ({0: torch.export.Dim("batch", min=1)},) if dynamic_batch else None
    with atomic.replacing(path) as tmp:
        try:
            torch.onnx.export(model.eval().cpu(), (example,), str(tmp), dynamo=True, dynamic_shapes=shapes,
                              opset_version=opset, input_names=["images"], output_names=list(outputs), verbose=False,
                              external_data=False)  # one file (a CNN here is far below ONNX's 2 GB limit)
        except Exception as exc:  # the exporter raises many kinds for an operator it cannot translate
            raise ExportError(f"the {info['task']} model cannot be exported to ONNX opset {opset} "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); try another --opset") from exc
        graph = onnx.load(str(tmp))
        graph.metadata_props.add(key=METADATA_KEY, value=json.dumps(info))
        onnx.save(graph, str(tmp))
        Path(f"{tmp}.data").unlink(missing_ok=True)  # an exporter that wrote weights apart anyway


def to_safetensors(model: nn.Module, path: Path, info: dict) -> Path:
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


def _wrong_task(path: Path, info: dict, task: str | None) -> None:
    if task is not None and info.get("task") != task:
        raise ExportError(f"{path} is an export of a {info.get('task', 'unknown')} model; give a {task} export (or a "
                          f"{task} run folder)")


def read_info(path: str | Path, task: str | None = None) -> dict:
    """What an export (.onnx, or .safetensors with its JSON) says about itself; ExportError for a file that is not
    a cnnlab export, or not one of `task`."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path} is not a file; give a .onnx or .safetensors file written by `cnnlab export`")
    try:
        if path.suffix.lower() == ".onnx":
            import onnx

            meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
            info = json.loads(meta[METADATA_KEY])
        else:
            info = json.loads(sidecar(path, ".json").read_text())
        if not isinstance(info, dict) or not {"task", "spec", "classes"} <= info.keys():
            raise TypeError("the description lacks the task, spec or classes")
    except Exception as exc:  # onnx raises many kinds for a file that is not theirs
        fmt = "onnx" if path.suffix.lower() == ".onnx" else "safetensors"
        raise ExportError(f"{path} is not {'an ONNX' if fmt == 'onnx' else 'a safetensors'} model exported by cnnlab "
                          f"({type(exc).__name__}); export a run with `cnnlab export RUN --format {fmt}`") from None
    _wrong_task(path, info, task)
    return info


@dataclass
class OnnxModel:
    """An export run by ONNX Runtime on the CPU, called like the PyTorch module it was made from: float images
    (N, C, S, S) in [0, 1] -> its output as a CPU tensor, or a tuple of them in the order of `outputs`. A task's
    subclass names its spec's type (`spec_type`), which `spec` rebuilds from the metadata."""

    path: Path
    session: object
    info: dict
    batch: int | None  # the fixed batch size of an export without --dynamic-batch
    spec_type: ClassVar[type | None] = None

    @classmethod
    def load(cls, path: str | Path, task: str | None = None) -> OnnxModel:
        check_options("onnx", 18)
        import onnxruntime

        path = Path(path)
        info = read_info(path, task)
        if cls.spec_type is not None:
            try:
                cls.spec_type(**info["spec"])
            except TypeError as exc:
                raise ExportError(f"{path} describes a model this cnnlab cannot rebuild ({exc}); export the run "
                                  "again with this version") from None
        try:
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own kinds for a damaged graph
            raise ExportError(f"{path} is not an ONNX model ONNX Runtime can run ({type(exc).__name__}); export "
                              "the run again with `cnnlab export RUN --format onnx`") from None
        dim = session.get_inputs()[0].shape[0]
        return cls(path, session, info, dim if isinstance(dim, int) else None)

    @property
    def spec(self):
        return self.spec_type(**self.info["spec"]) if self.spec_type else self.info["spec"]

    @property
    def outputs(self) -> list[str]:
        return [o.name for o in self.session.get_outputs()]

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.info["classes"]]

    @property
    def mean(self) -> torch.Tensor:  # where inputs go: the CPU (as a PyTorch model's mean buffer tells its device)
        return torch.zeros(1)

    def eval(self) -> OnnxModel:
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        x = x.detach().cpu().float().numpy()
        step = self.batch or max(len(x), 1)
        parts = [self.session.run(None, {"images": x[i:i + step]}) for i in range(0, len(x), step)]
        outs = tuple(torch.from_numpy(np.concatenate([p[k] for p in parts])) for k in range(len(parts[0])))
        return outs[0] if len(outs) == 1 else outs


class OnnxClassifier(OnnxModel):
    """An exported classifier run by ONNX Runtime: images -> logits (N, K)."""

    spec_type = ModelSpec

    @classmethod
    def load(cls, path: str | Path, task: str | None = "classify") -> OnnxClassifier:
        return super().load(path, task)


def read_safetensors(path: str | Path, task: str) -> tuple[dict[str, torch.Tensor], dict]:
    """The weights of NAME.safetensors and the description in the NAME.safetensors.json beside it."""
    check_options("safetensors", 18)
    from safetensors.torch import load_file

    path = Path(path)
    info = read_info(path, task)
    try:
        return load_file(str(path)), info
    except Exception as exc:  # safetensors raises its own kinds for a damaged file
        raise ExportError(f"{path} is not a safetensors file cnnlab wrote ({type(exc).__name__}); export the run "
                          "again with `cnnlab export RUN --format safetensors`") from None


def rebuilt(path: Path, build, state: dict[str, torch.Tensor]) -> nn.Module:
    """`build()` with `state` loaded; ExportError naming `path` when they do not fit each other."""
    try:
        model = build()
        model.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError, CnnlabError) as exc:
        raise ExportError(f"{path} and the JSON beside it do not rebuild a cnnlab model ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:160] if str(exc) else ''})") from None
    return model.eval()


def load_safetensors(path: str | Path) -> tuple[ImageClassifier, dict]:
    """A classifier rebuilt from NAME.safetensors and the NAME.safetensors.json beside it (no run folder needed)."""
    from cnnlab.models.registry import model_from_spec

    state, info = read_safetensors(path, "classify")
    return rebuilt(Path(path), lambda: model_from_spec(info["spec"]), state), info
