"""Boxed images as read from annotation files, and the checks every reader shares.

A box is (label, x0, y0, x1, y1) in pixels of the upright image (EXIF rotation applied), x0 < x1, y0 < y1,
inside the image. Every reader returns a BoxSet: the boxed images, the class names, and the images left out
(no boxes) with the reason, which training says in its log.
"""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from cnnlab.errors import DataError

EDGE_SLACK = 1.0  # pixels: VOC counts pixels from 1, so xmax == width + 1 happens in honest files
EXIF_SWAPS = (5, 6, 7, 8)  # orientations that turn the image a quarter: width and height swap
_COLLECTED: ContextVar[list | None] = ContextVar("box_problems", default=None)


@dataclass(frozen=True)
class BoxProblem:
    """A box a reader could not take: where (file, object or line), its label, what is wrong (kind: invalid,
    empty, inverted or outside) and the error's words."""

    where: str
    label: str
    kind: str
    message: str


@contextmanager
def collecting_box_problems():
    """Within this block, a box that `checked_box` refuses is left out and listed (the yielded list) instead of
    ending the read: the audit reports every bad box at once. Training never collects: a bad box is an error."""
    problems: list[BoxProblem] = []
    token = _COLLECTED.set(problems)
    try:
        yield problems
    finally:
        _COLLECTED.reset(token)


@dataclass(frozen=True)
class Box:
    label: str
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass
class BoxedImage:
    path: Path
    boxes: list[Box]
    size: tuple[int, int] | None = None  # (width, height) the annotation states; None: read from the file


@dataclass
class BoxSet:
    items: list[BoxedImage]
    classes: list[str]
    left_out: list[tuple[str, str]] = field(default_factory=list)  # (image, why)
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)


def upright_size(path: Path) -> tuple[int, int]:
    """(width, height) of the image as a person sees it (EXIF quarter turns swap them), from its header."""
    try:
        with Image.open(path) as img:
            width, height = img.size
            turned = img.getexif().get(0x0112, 1) in EXIF_SWAPS
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from exc
    return (height, width) if turned else (width, height)


def checked_box(label: str, coords: list, size: tuple[int, int], where: str) -> Box | None:
    """A Box from pixel corners (x0, y0, x1, y1); DataError naming `where` when they are not numbers, empty,
    inverted or outside the `size` (width, height) image (None, the problem listed, while collecting)."""
    collected = _COLLECTED.get()
    if collected is None:
        return _checked_box(label, coords, size, where)
    try:
        return _checked_box(label, coords, size, where)
    except _BoxError as exc:
        collected.append(BoxProblem(where, str(label), exc.kind, str(exc)))
        return None


class _BoxError(DataError):
    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def _checked_box(label: str, coords: list, size: tuple[int, int], where: str) -> Box:
    try:
        x0, y0, x1, y1 = (float(v) for v in coords)
    except (TypeError, ValueError):
        raise _BoxError(f"{where}: box corners {coords!r:.80} are not four numbers", "invalid") from None
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise _BoxError(f"{where}: box {label!r} has a corner that is not a finite number", "invalid")
    if x1 <= x0 or y1 <= y0:
        kind = "empty" if x1 == x0 or y1 == y0 else "inverted"
        raise _BoxError(f"{where}: box {label!r} is {kind} (xmin {x0:g}, ymin {y0:g}, xmax {x1:g}, ymax {y1:g}); "
                        "a box needs xmin < xmax and ymin < ymax: fix or delete it", kind)
    width, height = size
    if x0 < -EDGE_SLACK or y0 < -EDGE_SLACK or x1 > width + EDGE_SLACK or y1 > height + EDGE_SLACK:
        raise _BoxError(f"{where}: box {label!r} ({x0:g}, {y0:g}, {x1:g}, {y1:g}) lies outside the {width}x{height} "
                        "image; fix the box or the image size in the annotation", "outside")
    return Box(label, max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height)))


def confined(root: Path, name: str, where: str) -> Path:
    """The file `name` inside folder `root`; a name that leads out of it ('..', absolute, a link) is refused."""
    if not isinstance(name, str) or not name.strip():
        raise DataError(f"{where}: the image file name is missing")
    base = root.resolve()
    path = (base / name).resolve()
    if not path.is_relative_to(base):
        raise DataError(f"{where}: image {name!r} lies outside {root}; annotations may name files inside it only")
    return path


def read_json(path: Path, what: str) -> object:
    if not path.is_file():
        raise DataError(f"{what} {path} {'is not a file' if path.exists() else 'does not exist'}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise DataError(f"{path} cannot be read as JSON ({exc}); it should be a {what}") from None


def read_class_list(path: Path) -> list[str] | None:
    """classes.txt (or obj.names) beside the annotations: one class name per line; None when absent."""
    if not path.is_file():
        return None
    try:
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path} ({exc}); it holds one class name per line") from None
    doubled = sorted({n for n in names if names.count(n) > 1})
    if not names or doubled:
        raise DataError(f"{path} {'names ' + ', '.join(doubled) + ' twice' if doubled else 'is empty'}; it holds one "
                        "distinct class name per line")
    return names


def finish(items: list[BoxedImage], left_out: list[tuple[str, str]], source: str,
           classes: list[str] | None = None) -> BoxSet:
    """The BoxSet of what a reader found: boxless images moved to `left_out`; with `classes` given (a class
    list file), a box of any other class is an error naming its image."""
    kept = []
    for item in items:
        item.boxes = [b for b in item.boxes if b is not None]  # boxes left out while collecting problems
        if item.boxes:
            kept.append(item)
        else:
            left_out.append((str(item.path), "no boxes"))
    if not kept:
        raise DataError(f"{source} has no image with a box ({len(left_out)} without); check the annotation files")
    found = sorted({b.label for item in kept for b in item.boxes})
    if classes is not None:
        for item in kept:
            unknown = sorted({b.label for b in item.boxes} - set(classes))
            if unknown:
                raise DataError(f"{item.path}: class {', '.join(map(repr, unknown))} is not in the class list "
                                f"{classes}; fix the annotation or add the class to the list")
    return BoxSet(kept, list(classes) if classes is not None else found, left_out)
