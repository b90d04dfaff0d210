"""Images with bounding boxes, read by format: `FORMAT:PATH` with FORMAT one of voc, oxford-pet, csv, yolo,
coco, via (see each reader). Light to import: no torch until boxes are decoded into tensors."""

from __future__ import annotations

from pathlib import Path

from cnnlab.data.boxes.core import Box, BoxedImage, BoxSet
from cnnlab.errors import ConfigError, DataError
from cnnlab.options import said

FORMATS = {"voc": "a Pascal VOC folder (Annotations/ + JPEGImages/, or xml beside the images)",
           "oxford-pet": "the Oxford-IIIT Pet layout (images/ + annotations/xmls/)",
           "csv": "a CSV file: filename,width,height,class,xmin,ymin,xmax,ymax",
           "yolo": "a YOLO folder (images/ + labels/ + classes.txt)",
           "coco": "a COCO detection JSON file",
           "via": "a VIA 2 project or region export (.json, rect regions)"}
FILE_FORMATS = ("csv", "coco", "via")
RESIZES = ("stretch", "letterbox")  # how an image goes into the network's square: see cnnlab.data.boxes.frame

__all__ = ["FORMATS", "RESIZES", "Box", "BoxSet", "BoxedImage", "check_box_spec", "read_boxes"]


def check_box_spec(spec: object, builtin: tuple[str, ...] = ()) -> None:
    """ConfigError unless `spec` is FORMAT:PATH with a known FORMAT (or one of `builtin`)."""
    fmt, _, path = spec.partition(":") if isinstance(spec, str) else ("", "", "")
    if spec in builtin:
        return
    if fmt not in FORMATS or not path.strip():
        shown = ", ".join([*builtin, *(f"{k}:PATH" for k in FORMATS)])
        raise ConfigError(f"{said('data')} must be one of {shown}; got {spec!r}")


def read_boxes(spec: str, *, label: str = "species", attribute: str = "class") -> BoxSet:
    """The boxed images of FORMAT:PATH. `label` is oxford-pet's species|breed, `attribute` VIA's class
    attribute."""
    check_box_spec(spec)
    fmt, _, raw = spec.partition(":")
    path = Path(raw).expanduser()
    if fmt in FILE_FORMATS and not path.is_file():
        raise DataError(f"{path} {'is not a file' if path.exists() else 'does not exist'}; {fmt}:PATH takes "
                        f"{FORMATS[fmt]}")
    if fmt not in FILE_FORMATS and not path.is_dir():
        raise DataError(f"{path} {'is not a folder' if path.exists() else 'does not exist'}; {fmt}:PATH takes "
                        f"{FORMATS[fmt]}")
    from cnnlab.data.boxes import jsonfmt, tabular, voc

    if fmt == "oxford-pet":
        return voc.read_oxford_pet(path, label)
    if fmt == "via":
        return jsonfmt.read_via(path, attribute)
    readers = {"voc": voc.read_voc, "csv": tabular.read_csv_boxes, "yolo": tabular.read_yolo,
               "coco": jsonfmt.read_coco}
    return readers[fmt](path)
