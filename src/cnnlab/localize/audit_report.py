"""The audit report's box sections: classes, boxes per image, sizes, every bad or doubled box, images without."""

from __future__ import annotations

from pathlib import Path

from cnnlab.atomic import replacing
from cnnlab.report.html import image, table
from cnnlab.report.plots import _save, plt

ROWS = 200  # rows of a findings table in the page (the JSON lists up to its own cap, counts all)


def summary_rows(b: dict) -> list[dict]:
    """Lines for the report's summary table."""
    sizes = " / ".join(str(b["areas"][k]) for k in ("small", "medium", "large"))
    kinds = ", ".join(f"{k} {v}" for k, v in b["bad_box_kinds"].items()) or "-"
    return [{"": "boxes", "value": f"{b['boxes']} on {b['images']} images; {b['left_out_count']} images without "
                                   f"boxes; small / medium / large {sizes}"},
            {"": "box problems", "value": f"{b['bad_box_count']} bad boxes ({kinds}), {b['doubled_box_count']} "
                                          "boxes given twice"}]


def sections(b: dict, out: Path, private: dict) -> list[tuple[str, str]]:
    """(title, html) of the box sections, their figure written into `out`."""
    with replacing(out / "boxes.png") as tmp:
        _box_figure(b, private.get("relative", []), tmp)
    found = [("Boxes", image(out / "boxes.png"))]
    if b["bad_boxes"]:
        found.append(("Bad boxes (left out of this audit; training stops at the first)", table(b["bad_boxes"][:ROWS])))
    if b["doubled_boxes"]:
        found.append(("The same box twice", table(b["doubled_boxes"][:ROWS])))
    if b["left_out"]:
        found.append(("Images without boxes (training leaves them out)", table(b["left_out"][:ROWS])))
    return found


def _box_figure(b: dict, relative: list[float], path: Path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    classes = list(b["per_class"])
    axes[0].bar(range(len(classes)), list(b["per_class"].values()))
    axes[0].set_xticks(range(len(classes)), classes, rotation=60 if len(classes) > 5 else 0, ha="right", fontsize=8)
    axes[0].set_title("boxes per class")
    axes[1].bar(list(b["per_image"]), list(b["per_image"].values()))
    axes[1].set_title("boxes per image")
    axes[2].hist(relative, bins=30, range=(0, 1))
    axes[2].set_title("box side / image side (sqrt of area share)")
    fig.tight_layout()
    _save(fig, path)
