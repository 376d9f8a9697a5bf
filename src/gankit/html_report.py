"""One self-contained HTML page for a run or a sweep: open it anywhere, send it as one file.

A run's page holds its figures (embedded as PNG data, no side files), the last
evaluation with the protocol of every value (:mod:`gankit.metrics.protocol`) and the
resolved config; a sweep's page holds its table (means with 95% intervals over seeds,
paired differences from the baseline), the variants and seeds, and each variant's
sample figure of its first seed.
"""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from .checkpoint import atomic_write_bytes

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.3em 0; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 12px; }
.muted { color: #777; }
"""


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'
            f'<figcaption class="muted">{html.escape(path.name)}</figcaption></figure>')


def _page(title: str, body: List[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
            f"<body><h1>{html.escape(title)}</h1>\n" + "\n".join(body) + "\n</body></html>\n")


class _Cell(str):
    """A table cell already rendered as HTML (every other cell is escaped text)."""


def _table(header: List[str], rows: List[List[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(c if isinstance(c, _Cell) else
                                     f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _num(value: Any) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return _Cell(f'<td class="num">{html.escape(text)}</td>')


def last_eval_table(rows: List[Dict[str, Any]]) -> Optional[str]:
    """The last evaluation's values with their protocols, as an HTML table."""
    evals = [r for r in rows if r.get("kind") == "eval"]
    if not evals:
        return None
    last = evals[-1]
    protocols = last.get("protocol") or {}
    cells = [[k, _num(v), protocols.get(k, "")] for k, v in last.items()
             if k not in ("step", "kind", "time") and isinstance(v, (int, float))]
    return (f"<p>step {last['step']}</p>" + _table(["metric", "value", "protocol"], cells))


def run_page(run_path: Path, rows: List[Dict[str, Any]], figures: List[Path]) -> Path:
    """Write ``<run>/report.html``; returns its path."""
    body = []
    table = last_eval_table(rows)
    if table:
        body += ["<h2>Last evaluation</h2>", table]
    body += ["<h2>Figures</h2>"] + [_img(p) for p in figures if p.suffix == ".png"]
    config = run_path / "config.toml"
    if config.is_file():
        body += ["<h2>Config</h2>", f"<pre>{html.escape(config.read_text())}</pre>"]
    out = run_path / "report.html"
    atomic_write_bytes(out, _page(f"gankit run {run_path.name}", body).encode())
    return out


def _cell(cell: Optional[Dict[str, Any]]) -> str:
    if not cell:
        return "—"
    iv = cell["interval"]
    if iv["n"] < 2:
        return f"{iv['mean']:.4g}"
    return f"{iv['mean']:.4g} [{iv['low']:.4g}, {iv['high']:.4g}]"


def _paired_cell(cell: Optional[Dict[str, Any]]) -> str:
    cmp = (cell or {}).get("vs_baseline")
    if not cmp:
        return "—"
    d = cmp["diff"]
    text = f"{d['mean']:+.4g}"
    if d["n"] >= 2:
        text += f" [{d['low']:+.4g}, {d['high']:+.4g}], p = {cmp['p']:.2g}"
    return text


def sweep_page(path: Path, figures: Dict[str, Path]) -> Path:
    """Write ``<sweep>/report.html`` from its results.json and sweep.json, with
    ``figures`` {variant: a sample figure of it}."""
    summary = json.loads((path / "results.json").read_text())
    spec = json.loads((path / "sweep.json").read_text())
    variants = summary["variants"]
    keys = list(dict.fromkeys(k for e in variants.values() for k in e))
    rows = [[name, str(max((len(c["seeds"]) for c in e.values()), default=0))]
            + [_cell(e.get(k)) for k in keys] for name, e in variants.items()]
    body = ["<h2>Results</h2>", "<p>Mean over seeds [95% Student t interval] of each "
            "run's last evaluation.</p>", _table(["variant", "seeds"] + keys, rows)]
    base = summary.get("baseline")
    if base:
        paired = [[name] + [_paired_cell(e.get(k)) for k in keys]
                  for name, e in variants.items() if name != base]
        body += [f"<h2>Paired by seed: variant &minus; {html.escape(base)}</h2>",
                 _table(["variant"] + keys, paired)]
    body += ["<h2>Samples (first seed of each variant)</h2>"]
    for name, figure in figures.items():
        body += [f"<h3>{html.escape(name)}</h3>", _img(figure)]
    body += ["<h2>Sweep</h2>", f"<pre>{html.escape(json.dumps(spec, indent=1))}</pre>"]
    out = path / "report.html"
    atomic_write_bytes(out, _page(f"gankit sweep {path.name}", body).encode())
    return out
