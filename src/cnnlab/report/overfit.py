"""The overfitting verdict of a training history."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Overfitting:
    overfits: bool
    onset_epoch: int | None  # first epoch after the validation-loss minimum, when it then rose
    best_epoch: int  # epoch with the lowest validation loss (1-based)
    gap: float | None  # final train accuracy minus final validation accuracy
    text: str

    def to_dict(self) -> dict:
        return asdict(self)


def overfitting_verdict(history: list[dict], tolerance: float = 0.02) -> Overfitting:
    """Overfitting when validation loss ends more than `tolerance` (relative) above its minimum while the
    training loss kept falling; the onset is the epoch after that minimum."""
    if not history:
        return Overfitting(False, None, 0, None, "no epochs recorded")
    val = [r["val_loss"] for r in history]
    train = [r["train_loss"] for r in history]
    best = min(range(len(val)), key=val.__getitem__)
    last = history[-1]
    gap = last["train_acc"] - last["val_acc"] if "train_acc" in last and "val_acc" in last else None
    gap_text = f"; final train/validation accuracy gap {gap:+.1%}" if gap is not None else ""
    rose = val[-1] > val[best] * (1 + tolerance)
    train_fell = train[-1] < train[best]
    if rose and train_fell:
        text = (f"overfitting from epoch {best + 2}: validation loss rose from {val[best]:.4f} (epoch {best + 1}) "
                f"to {val[-1]:.4f} while training loss fell from {train[best]:.4f} to {train[-1]:.4f}{gap_text}")
        return Overfitting(True, best + 2, best + 1, gap, text)
    if best == len(val) - 1:
        text = f"no overfitting seen: validation loss was still falling at the last epoch{gap_text}"
    else:
        text = (f"no clear overfitting: validation loss is within {tolerance:.0%} of its best "
                f"(epoch {best + 1}){gap_text}")
    return Overfitting(False, None, best + 1, gap, text)
