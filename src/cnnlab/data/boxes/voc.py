"""Pascal VOC XML annotations: a VOC folder (Annotations/ + JPEGImages/, or xml files beside the images), and
the Oxford-IIIT Pet layout (images/ + annotations/xmls/ head boxes, 'cat'/'dog' or the breed from the name)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from cnnlab.data.boxes.core import BoxedImage, BoxSet, checked_box, confined, finish, read_class_list
from cnnlab.errors import DataError
from cnnlab.options import said

IMAGE_FOLDERS = ("JPEGImages", "images", ".")
XML_FOLDERS = ("Annotations", "annotations/xmls", "annotations", ".")
MAX_XML_BYTES = 10 << 20


def parse_voc(path: Path) -> ET.Element:
    """The root of a VOC XML file; DataError naming it when it is not one. Files that declare a DOCTYPE or
    entities are refused: VOC files never need them, and entity expansion is how XML bombs work."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if len(data) > MAX_XML_BYTES or b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise DataError(f"{path} is not a plain Pascal VOC annotation (too large, or it declares a DOCTYPE/ENTITY)")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise DataError(f"{path} is not valid XML ({exc}); it should be a Pascal VOC annotation") from None
    if root.tag != "annotation":
        raise DataError(f"{path} is not a Pascal VOC annotation (its root is <{root.tag}>, not <annotation>)")
    return root


def _text(node: ET.Element, tag: str, path: Path) -> str:
    found = node.find(tag)
    if found is None or found.text is None or not found.text.strip():
        raise DataError(f"{path}: <{tag}> is missing; a VOC annotation gives it for every image and object")
    return found.text.strip()


def voc_boxes(root: ET.Element, path: Path, size: tuple[int, int], label: str | None = None):
    """The boxes of one parsed VOC file, every object's class its <name> (or `label` for all of them)."""
    boxes = []
    for k, obj in enumerate(root.findall("object")):
        name = label or _text(obj, "name", path)
        bnd = obj.find("bndbox")
        if bnd is None:
            raise DataError(f"{path}: object {k + 1} ({name!r}) has no <bndbox>")
        coords = [_text(bnd, t, path) for t in ("xmin", "ymin", "xmax", "ymax")]
        boxes.append(checked_box(name, coords, size, f"{path} (object {k + 1})"))
    return boxes


def voc_size(root: ET.Element, path: Path) -> tuple[int, int] | None:
    size = root.find("size")
    if size is None:
        return None
    try:
        width, height = int(_text(size, "width", path)), int(_text(size, "height", path))
    except ValueError:
        raise DataError(f"{path}: <size> holds no whole numbers for width and height") from None
    return (width, height) if width > 0 and height > 0 else None


def _image_for(root: Path, xml: Path, name: str) -> Path:
    for folder in IMAGE_FOLDERS:
        candidate = confined(root / folder, name, str(xml))
        if candidate.is_file():
            return candidate
    beside = confined(xml.parent, name, str(xml))
    if beside.is_file():
        return beside
    raise DataError(f"{xml}: its image {name!r} is in none of {', '.join(IMAGE_FOLDERS)} under {root}, nor beside it")


def read_voc(root: Path) -> BoxSet:
    """A VOC folder: every *.xml in Annotations/ (else annotations/xmls/, annotations/, the folder itself);
    each names its image in <filename>, looked for in JPEGImages/, images/ or beside it."""
    from cnnlab.data.boxes.core import upright_size

    xml_dir = next((root / d for d in XML_FOLDERS if any((root / d).glob("*.xml"))), None)
    if xml_dir is None:
        raise DataError(f"no Pascal VOC .xml files in {root} (looked in {', '.join(XML_FOLDERS)})")
    items = []
    for xml in sorted(xml_dir.glob("*.xml")):
        tree = parse_voc(xml)
        image = _image_for(root, xml, _text(tree, "filename", xml))
        size = voc_size(tree, xml) or upright_size(image)
        items.append(BoxedImage(image, voc_boxes(tree, xml, size), size))
    return finish(items, [], str(root), read_class_list(root / "classes.txt"))


def read_oxford_pet(root: Path, label: str = "species") -> BoxSet:
    """Oxford-IIIT Pet: images/<Breed>_<n>.jpg with head boxes in annotations/xmls/<stem>.xml. `label`
    'species' keeps the files' cat/dog, 'breed' takes the breed from the file name. Images without an xml
    (the whole test half of the original, and two odd files here) are listed and left out."""
    if label not in ("species", "breed"):
        raise DataError(f"{said('label')} must be species or breed for oxford-pet, got {label!r}")
    images, xmls = root / "images", root / "annotations" / "xmls"
    if not images.is_dir() or not xmls.is_dir():
        raise DataError(f"{root} is not the Oxford-IIIT Pet layout: it needs images/ and annotations/xmls/")
    from cnnlab.data.folders import IMAGE_SUFFIXES

    items, left_out = [], []
    for image in sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        xml = xmls / f"{image.stem}.xml"
        if not xml.is_file():
            left_out.append((str(image), "no head box in annotations/xmls"))
            continue
        tree = parse_voc(xml)
        size = voc_size(tree, xml)
        if size is None:
            raise DataError(f"{xml}: <size> is missing")
        breed = image.stem.rsplit("_", 1)[0]
        items.append(BoxedImage(image, voc_boxes(tree, xml, size, breed if label == "breed" else None), size))
    return finish(items, left_out, str(root))
