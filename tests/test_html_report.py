"""The self-contained HTML page of a run and of a sweep."""
import base64
import json
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from gankit.cli import main
from gankit.html_report import sweep_page
from gankit.report import spans_decades
from gankit.sweep_spec import SweepSpec, expand
from gankit.sweep_table import summarise


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.links, self.cells, self.pre = [], [], [], []
        self._in = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag in ("a", "link", "script") and (attrs.get("href") or attrs.get("src")):
            self.links.append(attrs.get("href") or attrs.get("src"))
        self._in = tag

    def handle_data(self, data):
        if self._in == "td":
            self.cells.append(data)
        if self._in == "pre":
            self.pre.append(data)


def _parse(path):
    page = Page()
    page.feed(path.read_text())
    return page


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    sets = [f"out_dir='{out}'", "train.steps=10", "train.eval_every=5", "train.tensorboard=false",
            "eval.n_samples=64", "data.batch_size=16", "generator.width=8",
            "discriminator.width=8"]
    assert main(["train", "configs/dcgan_digits.toml"] + [a for s in sets for a in ("--set", s)]) == 0
    (run,) = out.iterdir()
    return run


def test_a_run_page_embeds_its_figures_metrics_protocols_and_config(digits_run):
    page = _parse(digits_run / "report.html")
    pngs = sorted((digits_run / "plots").glob("*.png"))
    assert len(page.images) == len(pngs) >= 2
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not page.links  # nothing outside the file
    assert "fid" in page.cells and "fid64-digits" in page.cells
    assert any("[objective]" in p for p in page.pre)


def test_gankit_report_rewrites_the_page(digits_run, capsys):
    (digits_run / "report.html").unlink()
    assert main(["report", str(digits_run)]) == 0
    assert str(digits_run / "report.html") in capsys.readouterr().out


def test_metrics_spanning_orders_of_magnitude_get_a_log_scale():
    assert spans_decades([700.0, 40.0, 6.0]) and not spans_decades([9.0, 6.0])
    assert not spans_decades([5.0, -1.0, 800.0]) and not spans_decades([])


def test_a_sweep_page_shows_the_table_with_intervals(tmp_path, capsys):
    spec = SweepSpec(expand([None], ["data.name=ring,grid"], []), [0, 1],
                     baseline="default,data.name=ring")
    spec.save(tmp_path)
    results = {"default,data.name=ring": {0: {"hq": 50.0}, 1: {"hq": 52.0}},
               "default,data.name=grid": {0: {"hq": 60.0}, 1: {"hq": 61.0}}}
    (tmp_path / "results.json").write_text(json.dumps(summarise(spec, results)))
    page = _parse(sweep_page(tmp_path, {}))
    assert "60.5 [54.15, 66.85]" in page.cells
    assert "+9.5 [+3.147, +15.85], p = 0.033" in page.cells  # diffs 10 and 9


chromium = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(chromium is None, reason="headless Chromium is not installed")
def test_the_run_page_renders_in_a_real_browser(digits_run, tmp_path):
    shot = tmp_path / "page.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                    f"--screenshot={shot}", "--window-size=1200,1600",
                    (digits_run / "report.html").as_uri()],
                   check=True, capture_output=True, timeout=120)
    from PIL import Image

    img = Image.open(shot).convert("L")
    assert img.size == (1200, 1600)
    # the page is not blank: text, tables and figures darken a visible share of it
    dark = sum(1 for p in img.getdata() if p < 200) / (1200 * 1600)
    assert dark > 0.01


def test_names_that_look_like_html_are_escaped(tmp_path):
    spec = SweepSpec(expand([None], ["run.name='<td>x</td>'"], []), [0])
    spec.save(tmp_path)
    name = spec.variants[0].name
    (tmp_path / "results.json").write_text(json.dumps(summarise(spec, {name: {0: {"hq": 1.0}}})))
    text = sweep_page(tmp_path, {}).read_text()
    assert "<td><td>x</td>" not in text and "&lt;td&gt;x&lt;/td&gt;" in text
