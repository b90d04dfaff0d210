"""The audit's findings as JSON (every finding) and report.html (class bars, sizes, the closest pairs side by side)."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from cnnlab.atomic import replacing, write_text
from cnnlab.data.audit.duplicates import NEAR_BITS, NEAR_LEVELS, Pair, crosses, leaked_rows
from cnnlab.data.audit.scan import SPLITS, Scan
from cnnlab.report.html import image, page, table
from cnnlab.report.plots import _save, plt

PAIRS_DRAWN = 12


def findings(s: Scan, pairs: list[Pair], seconds: float) -> dict:
    counts = {SPLITS[k]: {c: int(((s.split == k) & (s.label == i)).sum()) for i, c in enumerate(s.classes)}
              for k in range(len(SPLITS))}
    leaks = [p for p in pairs if crosses(p, s.split)]
    leaked = leaked_rows(pairs, s.split)

    def entry(p: Pair) -> dict:
        return {"kind": p.kind, "a": s.ids[p.a], "a_split": SPLITS[s.split[p.a]], "a_class": s.classes[s.label[p.a]],
                "a_row": p.a, "b_row": p.b,
                "b": s.ids[p.b], "b_split": SPLITS[s.split[p.b]], "b_class": s.classes[s.label[p.b]],
                "hash_bits": p.bits, "grey_levels": round(p.levels, 2), "leak": crosses(p, s.split)}

    return {
        "data": s.name, "root": str(s.root), "seconds": round(seconds, 2), "images": len(s.ids),
        "classes": s.classes, "splits": {k: int(sum(v.values())) for k, v in counts.items()}, "counts": counts,
        "sizes": {f"{w}x{h}": int(n) for (w, h), n in s.sizes.most_common(50)}, "distinct_sizes": len(s.sizes),
        "aspect_ratios": _aspects(s), "smallest_side": min((min(w, h) for w, h in s.sizes), default=None),
        "modes": {k: int(v) for k, v in s.modes.items()},
        "unreadable": [{"path": p, "reason": r} for p, r in s.unreadable],
        "exact_duplicates": sum(p.kind == "exact" for p in pairs),
        "near_duplicates": sum(p.kind == "near" for p in pairs),
        "leakage": {"pairs": len(leaks), "held_out_images": len(leaked),
                    "val_images": int(sum(s.split[r] == 1 for r in leaked)),
                    "test_images": int(sum(s.split[r] == 2 for r in leaked))},
        "conflicting_labels": int(sum(s.label[p.a] != s.label[p.b] for p in pairs)),
        "thresholds": {"near_hash_bits": NEAR_BITS, "near_grey_levels": NEAR_LEVELS,
                       "explained": f"near duplicates: 64-bit difference hashes at most {NEAR_BITS} bits apart "
                                    f"and 16x16 grey thumbnails at most {NEAR_LEVELS:g} grey levels apart on average; "
                                    "exact: the same bytes (files) or the same pixels (official formats)"},
        "pairs": [entry(p) for p in pairs],
    }


def _aspects(s: Scan) -> dict[str, int]:
    out: dict[str, int] = {}
    for (w, h), n in s.sizes.items():
        r = w / h
        shape = ("wide" if r > 1 else "tall") + (" (>2:1)" if max(r, 1 / r) > 2 else "")
        key = "square" if abs(r - 1) < 0.02 else shape
        out[key] = out.get(key, 0) + n
    return out


def write(s: Scan, pairs: list[Pair], result: dict, out: Path, summary: list[dict] = (),
          room_sections: list[tuple[str, str]] = ()) -> None:
    """audit.json and report.html into `out`; `summary` and `room_sections` are a room's own (masks, boxes),
    placed after the summary's lines and after the class bars."""
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "audit.json", json.dumps(result, indent=2))
    with replacing(out / "classes.png") as tmp:
        _class_bars(result, tmp)
    sections = [("Summary", table(_summary_rows(result) + list(summary))),
                ("Classes per split" if len(s.classes) > 1 else "Images per split", image(out / "classes.png")),
                *room_sections]
    if s.files is not None and s.sizes:
        with replacing(out / "sizes.png") as tmp:
            _size_histogram(s, tmp)
        sections.append(("Image sizes", image(out / "sizes.png")))
    shown = sorted(pairs, key=lambda p: (not crosses(p, s.split), p.kind != "exact", p.levels))[:PAIRS_DRAWN]
    if shown:
        with replacing(out / "pairs.png") as tmp:
            _pairs_figure(s, shown, tmp)
        sections.append(("Closest pairs (leaks first)", f"<p>{html.escape(result['thresholds']['explained'])}</p>"
                         + image(out / "pairs.png")))
    if result["unreadable"]:
        sections.append(("Unreadable files", table(result["unreadable"][:200])))
    write_text(out / "report.html", page(f"Audit of {result['data']}", sections))


def _summary_rows(r: dict) -> list[dict]:
    leak = r["leakage"]
    return [{"": "images", "value": f"{r['images']} ({', '.join(f'{k} {v}' for k, v in r['splits'].items())}), "
                                    f"{len(r['classes'])} classes"},
            {"": "sizes", "value": f"{r['distinct_sizes']} distinct; " + ", ".join(list(r["sizes"])[:5])},
            {"": "modes", "value": ", ".join(f"{k} {v}" for k, v in r["modes"].items())},
            {"": "unreadable", "value": str(len(r["unreadable"]))},
            {"": "exact duplicate pairs", "value": str(r["exact_duplicates"])},
            {"": "near duplicate pairs", "value": str(r["near_duplicates"])},
            {"": "leakage", "value": f"{leak['pairs']} pairs across training and a held-out split: "
                                     f"{leak['val_images']} validation and {leak['test_images']} test images have a "
                                     "copy in training"},
            {"": "pairs with different labels", "value": str(r["conflicting_labels"])},
            {"": "time", "value": f"{r['seconds']} s"}]


def _class_bars(r: dict, path: Path) -> None:
    classes = r["classes"]
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(classes)), 3.5))
    x = np.arange(len(classes))
    bottom = np.zeros(len(classes))
    for split, counts in r["counts"].items():
        values = np.array([counts[c] for c in classes])
        ax.bar(x, values, bottom=bottom, label=split)
        bottom += values
    ax.set_xticks(x, classes, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("images")
    ax.legend()
    fig.tight_layout()
    _save(fig, path)


def _size_histogram(s: Scan, path: Path) -> None:
    widths = np.repeat([w for w, _ in s.sizes], list(s.sizes.values()))
    heights = np.repeat([h for _, h in s.sizes], list(s.sizes.values()))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    axes[0].hist(np.minimum(widths, heights), bins=30)
    axes[0].set_title("shorter side (px)")
    axes[1].hist(np.log2(widths / heights), bins=30)
    axes[1].set_title("aspect ratio, log2(width / height)")
    fig.tight_layout()
    _save(fig, path)


def _pairs_figure(s: Scan, pairs: list[Pair], path: Path) -> None:
    fig, axes = plt.subplots(2, len(pairs), figsize=(1.5 * len(pairs), 3.6), squeeze=False)
    for col, p in enumerate(pairs):
        for row, r in enumerate((p.a, p.b)):
            ax = axes[row, col]
            ax.imshow(s.picture(r))
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(f"{SPLITS[s.split[r]]}: {s.classes[s.label[r]]}"[:22], fontsize=7)
        axes[0, col].set_title(f"{'LEAK ' if crosses(p, s.split) else ''}{p.kind}\n{p.levels:.1f} levels",
                               fontsize=7, color="#b00" if crosses(p, s.split) else "black")
    fig.tight_layout()
    _save(fig, path)
