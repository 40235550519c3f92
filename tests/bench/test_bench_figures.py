"""Figures render to valid PNGs of the documented pixel size and to PDFs."""

from __future__ import annotations

import struct

import pytest

from compactbio.report import figures


def png_size(path) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which the PNG spec puts first."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


def eff_rows(devices=("cpu",)):
    rows = []
    for device in devices:
        for model, group, lat, mem in [("biobert", "base", 100.0, 450.0), ("distilbiobert", "distilled", 50.0, 280.0),
                                       ("tinybiobert", "small", 8.0, 70.0), ("biomobilebert", "mobile", 60.0, 120.0)]:
            rows.append({"device": device, "model": model, "display": model.title(), "group": group,
                         "latency_128_median_ms": lat, "latency_256_median_ms": 2.2 * lat,
                         "memory_mib": mem, "reference": model == "biobert"})
    return rows


@pytest.mark.parametrize("devices", [("cpu",), ("cpu", "cuda")])
def test_efficiency_figure_size_and_formats(tmp_path, devices):
    png, pdf = tmp_path / "e.png", tmp_path / "e.pdf"
    figures.efficiency_figure(eff_rows(devices), [128, 256], png, pdf)
    assert png_size(png) == figures.efficiency_size(len(devices))
    assert figures.efficiency_size(1) == (1200, 450)
    assert pdf.read_bytes().startswith(b"%PDF")


def test_efficiency_figure_is_readable_by_pil(tmp_path):
    PIL = pytest.importorskip("PIL.Image")
    figures.efficiency_figure(eff_rows(), [128, 256], tmp_path / "e.png", tmp_path / "e.pdf")
    with PIL.open(tmp_path / "e.png") as im:
        im.load()  # decodes every chunk: fails on a truncated or corrupt file
        assert im.size == (1200, 450)
        # not a blank canvas: bars of several colours were drawn
        assert len(im.convert("RGB").getcolors(maxcolors=1 << 16) or []) > 5


def test_score_cost_figure_size_and_formats(tmp_path):
    rows = [{"display": "TinyBioBERT", "group": "small", "latency_share": 0.08, "score_share": 0.93},
            {"display": "DistilBioBERT", "group": "distilled", "latency_share": 0.5, "score_share": 0.98}]
    png, pdf = tmp_path / "s.png", tmp_path / "s.pdf"
    figures.score_cost_figure(rows, png, pdf, reference="BioBERT-v1.1")
    assert png_size(png) == figures.score_cost_size() == (700, 550)
    assert pdf.read_bytes().startswith(b"%PDF")


def test_score_cost_labels_never_cover_each_other_or_a_point():
    """Same-architecture models share a latency and often a score: one fixed offset overprinted their labels."""
    crowded = [{"display": "DistilBioBERT", "group": "distilled", "latency_share": 0.52, "score_share": 0.98},
               {"display": "CompactBioBERT", "group": "distilled", "latency_share": 0.52, "score_share": 0.98},
               {"display": "BioDistilBERT", "group": "distilled", "latency_share": 0.51, "score_share": 0.979},
               {"display": "TinyBioBERT", "group": "small", "latency_share": 0.16, "score_share": 0.93},
               {"display": "BioTinyBERT", "group": "small", "latency_share": 0.16, "score_share": 0.93,
                "timing_warning": "latency at L=128 uncertain by 9% (limit 5%)"},
               {"display": "BioMobileBERT", "group": "mobile", "latency_share": 0.36, "score_share": 0.95}]
    fig, ax, labels = figures._score_cost_axes(crowded, "BioBERT-v1.1")
    try:
        renderer = fig.canvas.get_renderer()
        boxes = [t.get_window_extent(renderer) for t in labels]
        assert [t.get_text() for t in labels] == [r["display"] for r in crowded[:4]] + [
            "BioTinyBERT†", "BioMobileBERT", "BioBERT-v1.1"]
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                assert figures._overlap(boxes[i], boxes[j]) == 0, (labels[i].get_text(), labels[j].get_text())
        frame = ax.get_window_extent(renderer)
        points = [ax.transData.transform((100 * r["latency_share"], 100 * r["score_share"])) for r in crowded]
        points.append(ax.transData.transform((100, 100)))
        half = 5.0 * fig.dpi / 72
        for box, (x, y) in zip(boxes, points):
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            for px, py in points:     # no label over any marker
                assert not (box.x0 < px + half and px - half < box.x1 and box.y0 < py + half and py - half < box.y1)
            # and each stays near its own point (the largest ring, plus the label's own size)
            reach = max(figures._LABEL_RADII) * fig.dpi / 72
            assert box.x0 - reach <= x <= box.x1 + reach and box.y0 - reach <= y <= box.y1 + reach
    finally:
        figures.plt.close(fig)


def test_pdf_is_reproducible(tmp_path):
    for name in ("a", "b"):
        figures.efficiency_figure(eff_rows(), [128, 256], tmp_path / f"{name}.png", tmp_path / f"{name}.pdf")
    assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_empty_input_is_a_value_error(tmp_path):
    with pytest.raises(ValueError):
        figures.efficiency_figure([], [128], tmp_path / "x.png", tmp_path / "x.pdf")
    with pytest.raises(ValueError):
        figures.score_cost_figure([], tmp_path / "y.png", tmp_path / "y.pdf")
    assert not list(tmp_path.iterdir())
