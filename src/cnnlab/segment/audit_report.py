"""The audit report's mask sections: the value census, class shares per split, every stray value and bad file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnlab.atomic import replacing
from cnnlab.report.html import image, table
from cnnlab.report.plots import _save, plt

ROWS = 200  # rows of a findings table in the page (the JSON has them all)


def summary_rows(m: dict) -> list[dict]:
    """Lines for the report's summary table."""
    return [{"": "mask reading", "value": m["reading"]},
            {"": "mask problems", "value": f"{m['images_with_strays']} masks with stray values, "
                                           f"{len(m['size_mismatches'])} of another size than their image, "
                                           f"{len(m['unpaired'])} files without a partner"},
            {"": "masks of one value only", "value": f"{len(m['one_class_masks'])} (empty masks, or images of one "
                                                     "class: " + ", ".join(m["one_class_masks"][:5]) + ")"}]


def sections(m: dict, out: Path, private: dict) -> list[tuple[str, str]]:
    """(title, html) of the mask sections, their figure written into `out`."""
    with replacing(out / "mask_classes.png") as tmp:
        _class_shares(m["classes"], tmp)
    found = [("Mask values", f"<p>{m['reading']}</p>" + table(m["classes"]) + image(out / "mask_classes.png"))]
    if m["strays"]:
        found.append(("Stray mask values (no class)", table(
            [{**s, "files": ", ".join(s["files"])} for s in m["strays"][:ROWS]])))
    if m["size_mismatches"]:
        found.append(("Masks of another size than their image", table(m["size_mismatches"][:ROWS])))
    if m["one_class_masks"]:
        found.append(("Masks of one value only", table([{"mask": f} for f in m["one_class_masks"][:ROWS]])))
    if m["unpaired"]:
        found.append(("Files without a partner", table([{"file": f} for f in m["unpaired"][:ROWS]])))
    return found


def _class_shares(rows: list[dict], path: Path) -> None:
    names = [row["class"] for row in rows]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(names)), 3.2))
    ax.bar(x - 0.2, [row["train_share"] for row in rows], 0.4, label="train")
    ax.bar(x + 0.2, [row["val_share"] for row in rows], 0.4, label="val")
    ax.set_xticks(x, names, rotation=45 if len(names) > 6 else 0, ha="right" if len(names) > 6 else "center")
    ax.set_ylabel("share of pixels")
    ax.legend()
    fig.tight_layout()
    _save(fig, path)
