"""`snakemake --report` as a reader sees it, in headless Chromium.

The workflow copy gets hand-made fine-tuning runs for the whole demo grid,
the real table stage writes every table, and Snakemake builds the report of
the table targets (the runs' upstream jobs never ran: the report only needs
the tables).  The front page must start with its title in the first
screenful and fit in it (Snakemake centres that panel, so a long page loses
its top), and Table 2 must be one click away, its cells in the page's text.
"""

from __future__ import annotations

import os
import random
import struct
import subprocess

import pytest
import yaml

from compactbio.params import resolve
from compactbio.report import stage

from chromium_tools import Browser, find_chromium
from report.report_fakes import write_prepared, write_run
from report.report_models import write_weights
from workflow_tools import copy_workflow

WIDTH, HEIGHT = 1280, 900


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    wf = copy_workflow(tmp_path_factory.mktemp("report") / "wf")
    params = resolve(yaml.safe_load((wf / "params.yaml").read_text()))
    assert params["scale"] == "demo"
    grid, rng = params["grid"], random.Random(7)
    tasks = {**{d: "ner" for d in grid["ner"]}, **{d: "re" for d in grid["re"]}, **{d: "qa" for d in grid["qa"]}}
    for k, m in enumerate(grid["models"]):
        write_weights(wf / "models" / m, {"embeddings": (500 + 50 * k, 32), "dense": (32, 32)})
        for d, task in tasks.items():
            for s in grid["seeds"]:
                write_run(wf / "runs/finetune", m, d, s, task, round(rng.uniform(0.3, 0.9), 4), n=30)
    for d in params["tables"]["table1"]["datasets"]:
        write_prepared(wf / "data/prepared", d, tasks[d], {"train": 100, "validation": 20, "test": 30})
    tables = [t for t in params["tables"] if t != "style"]
    for t in tables:
        stage.run(params, t, wf / "runs/finetune", wf / "data/prepared", wf / "results/tables", models=wf / "models")
    proc = subprocess.run(["snakemake", "--report", "report.html", *tables], cwd=wf, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # reST problems end up as red boxes on the page: none allowed.
    assert "(WARNING/" not in proc.stderr and "(ERROR/" not in proc.stderr, proc.stderr[-3000:]
    return wf, params


@pytest.mark.slow
def test_front_page_is_short_and_params_are_collapsed(report):
    wf, params = report
    html = (wf / "report.html").read_text(encoding="utf-8")
    assert "Compact biomedical transformers, rebuilt" in html and "Run parameters" in html
    assert "Demo scale, synthetic data" in html
    for t in (t for t in params["tables"] if t != "style"):
        assert f"results/tables/{t}.html" in html and f"{t}.csv" in html   # shown, and the CSV named


@pytest.mark.slow
def test_title_on_the_first_screen_and_table2_one_click_away(report, tmp_path):
    wf, params = report
    if find_chromium() is None:
        pytest.skip("Chromium is not installed (apt-get install -y --no-install-recommends chromium)")
    with Browser(tmp_path / "profile", WIDTH, HEIGHT) as page:
        page.open((wf / "report.html").as_uri())
        page.wait_for("!!document.querySelector('nav') && !!document.querySelector('.prose')")   # React rendered
        assert page.evaluate("!!document.querySelector('h1.title')"), "the front page has no title"
        assert "System Message" not in page.evaluate("document.body.innerText")   # a reST error box
        shot = page.screenshot(tmp_path / "front.png")
        header = shot.read_bytes()[:24]
        assert header[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", header[16:24]) == (WIDTH, HEIGHT)
        title = page.evaluate("""(() => { const h = document.querySelector('h1.title'); const r = h.getBoundingClientRect();
            const hit = document.elementFromPoint(r.left + 5, r.top + r.height / 2);
            return {text: h.innerText, top: r.top, bottom: r.bottom, shown: h.contains(hit)}; })()""")
        assert title["text"] == "Compact biomedical transformers, rebuilt"
        assert 0 <= title["top"] < 100 and title["bottom"] < HEIGHT / 3 and title["shown"], title
        # The whole front page fits the screen: the collapsed run parameters are its last line.
        params_box = page.evaluate("""(() => { const d = document.querySelector('details');
            return {open: d.open, bottom: d.getBoundingClientRect().bottom,
                    text: d.querySelector('summary').innerText}; })()""")
        assert not params_box["open"] and params_box["bottom"] <= HEIGHT and "Run parameters" in params_box["text"]
        assert "Demo scale, synthetic data" in page.evaluate("document.body.innerText")
        # Opened, the parameters make the page taller than the window: it grows downwards, title kept.
        page.evaluate("document.querySelector('details summary').click()")
        page.wait_for("document.querySelector('details').open")
        opened = page.evaluate("""(() => ({title: document.querySelector('h1.title').getBoundingClientRect().top,
            page: document.querySelector('.prose').getBoundingClientRect().height,
            yaml: document.querySelector('details pre').innerText}))()""")
        assert opened["page"] > HEIGHT and 0 <= opened["title"] < 100, opened
        assert opened["yaml"].startswith("scale: demo") and yaml.safe_load(opened["yaml"]) == params

        page.evaluate("[...document.querySelectorAll('a')].find(a => a.innerText === 'Table 2').click()")
        page.wait_for("!!document.querySelector('iframe')")
        page.screenshot(tmp_path / "table2.png")
        text = "\n".join(page.frame_texts())
    table = stage.build(params, "table2", wf / "runs/finetune", wf / "data/prepared", wf / "models")[0]
    assert "Table 2. DEMO SCALE, SYNTHETIC DATA: " + params["tables"]["table2"]["title"] in text
    for row in table.rows:   # every cell of Table 2, as the table stage formats it
        for c in row.cells:
            shown = c.text if c.value is None else f"{c.value:.2f}"
            assert shown in text, shown
    assert "15M" not in text and "TinyBioBERT 0.0" in text   # the measured size, not the paper's
