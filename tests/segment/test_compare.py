"""`segment compare`'s table: the lab's five runs with pixel accuracy and each class's IoU beside mIoU."""

from cnnlab.segment import compare
from cnnlab.segment.training import SegmentConfig


def test_compare_rows_carry_pixel_accuracy_and_per_class_iou(monkeypatch):
    trained = []

    def fake_train(cfg, overwrite=False):
        trained.append(cfg)
        return {"phases": ["frozen"] if cfg.finetune_epochs == 0 else ["frozen", "finetune"],
                "epochs": cfg.freeze_epochs + cfg.finetune_epochs, "val_miou": 0.5, "val_dice": 0.6,
                "val_pixel_acc": 0.9 - 0.1 * len(trained) / 10, "seconds_per_epoch": 1.5,
                "val_iou": {"pet": 0.7, "background": 0.8, "border": 0.1}}

    monkeypatch.setattr(compare, "train_unet", fake_train)
    rows = compare.compare_segmentation(SegmentConfig("digits", 32, freeze_epochs=2, name="lab"), finetune_epochs=3)
    assert [r["run"] for r in rows] == ["lab-frozen", "lab-frozen-dropout", "lab-finetuned", "lab-finetuned-dropout",
                                        "lab-random-encoder"]
    assert rows[0]["val pixel acc"] == 0.89 and rows[4]["val pixel acc"] == 0.85
    assert {k: rows[0][k] for k in ("IoU pet", "IoU background", "IoU border")} == {
        "IoU pet": 0.7, "IoU background": 0.8, "IoU border": 0.1}
    assert [r["epochs"] for r in rows] == [5] * 5 and rows[4]["encoder"] == "random"
