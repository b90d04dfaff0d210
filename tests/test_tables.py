"""Tables on the terminal: a table wider than the terminal is turned or listed, never cut into ellipses."""

import pytest

from cnnlab.cliutil import print_table
from cnnlab.console import console

ROWS = [{"run": f"pet128-finetuned-dropout-{i}", "encoder": "pretrained", "val pixel acc": 0.8806, "val mIoU": 0.7038,
         "IoU pet": 0.7842, "IoU background": 0.8839, "IoU border": 0.4433, "s/epoch": 16.15} for i in range(5)]


@pytest.mark.parametrize(("width", "rows"), [(80, ROWS), (80, ROWS[:1]), (200, ROWS), (40, ROWS)])
def test_no_cell_is_cut(width, rows, capsys, monkeypatch):
    monkeypatch.setattr(console, "width", width)
    print_table(rows, "segmentation")
    out = capsys.readouterr().out
    assert "…" not in out and max(len(line) for line in out.splitlines()) <= width
    for row in rows:
        for key, value in row.items():
            assert key in out and (f"{value:.4f}" if isinstance(value, float) else value) in out


def test_a_narrow_table_stays_a_table(capsys, monkeypatch):
    monkeypatch.setattr(console, "width", 80)
    print_table([{"a": 1, "b": 2.0}], "small")
    out = capsys.readouterr().out
    assert "┃ a ┃ b" in out and "2.0000" in out
