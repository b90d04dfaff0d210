"""`cnnlab classify lr-find`: the learning-rate range test with the train command's options (no run folder)."""

from __future__ import annotations

import json
from pathlib import Path

from cnnlab.atomic import replacing, write_text
from cnnlab.options import Options
from cnnlab.train.lr_find import LrFind, lr_find, plot_lr_find


def find_lr(opts: Options, out: str | Path | None, steps: int = 100) -> tuple[LrFind, Path, str]:
    """The range test of the run these options describe; writes lr_find.png and lr_find.json to `out` (default
    RUNS_DIR/lr-find/NAME, NAME the run's, beside the run folders, not among them); returns them with the line
    to paste."""
    from cnnlab.classify.options import config
    from cnnlab.classify.training import classifier_task
    from cnnlab.data.datasets import load_dataset
    from cnnlab.train import resolve_device, seed_everything

    cfg = config(opts)
    folder = Path(out) if out else Path(cfg.runs_dir) / "lr-find" / cfg.run_path.name  # the run's own name
    device = resolve_device(cfg.fit.device)
    seed_everything(cfg.fit.seed)
    task, _, _ = classifier_task(cfg, load_dataset(cfg.data), device)
    result = lr_find(task, cfg.fit, device, steps=steps)
    flag = "freeze_lr" if cfg.fit.phases and cfg.fit.phases[0].train != "all" else (
        "finetune_lr" if cfg.fit.phases else "lr")
    line = f"--{flag.replace('_', '-')} {result.suggestion:.2g}"
    folder.mkdir(parents=True, exist_ok=True)
    with replacing(folder / "lr_find.png") as tmp:
        plot_lr_find(result, tmp, f"{cfg.model} on {cfg.data.name}, {result.optimizer}")
    write_text(folder / "lr_find.json", json.dumps({**result.to_dict(), "paste": line}, indent=2))
    return result, folder, line
