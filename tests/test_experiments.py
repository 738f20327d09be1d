"""The loss-table report: Markdown rows and the PNG chart from run histories."""

from pathlib import Path

from distill.experiments.loss_table import chart, markdown

MAP = {"easy": 0.9, "medium": 0.5, "hard": 0.25}


def test_markdown_and_chart(tmp_path: Path) -> None:
    aml = [{"run": "teacher ↔ teacher", "map": MAP, "history": []},
           {"run": "asym regression", "mode": "asym", "mining": "random", "map": MAP,
            "before": {"easy": 0.1, "medium": 0.05, "hard": 0.0},
            "history": [{"epoch": 0, "map": MAP}, {"epoch": 1, "map": MAP}]}]
    cls = [{"run": "rkd → 64-d", "recall": {"1": 0.5, "2": 0.6, "4": 0.7, "8": 0.8},
            "before": {"1": 0.1, "2": 0.2, "4": 0.3, "8": 0.4}}]
    md = markdown(aml, cls)
    assert "| asym regression | random | 90.00 | 50.00 | 25.00 | 5.00 |" in md
    assert "| rkd → 64-d | 50.00 | 60.00 | 70.00 | 80.00 | 10.00 |" in md
    chart(aml, tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
