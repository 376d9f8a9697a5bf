"""A sweep's table: per variant and metric, the mean over seeds with a 95% interval and
the paired difference from the baseline (:mod:`gankit.intervals`). A variant whose seeds
mix evaluation protocols is refused (:mod:`gankit.metrics.protocol`); a variant
evaluated under another protocol than the baseline's (another data set's reference)
gets its mean but no paired difference."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional

from .checkpoint import atomic_write_bytes
from .html_report import sweep_page
from .intervals import format_interval, paired, t_interval
from .metrics.protocol import check_comparable
from .sweep_spec import SweepSpec, is_finished, last_eval, run_dir_in, seed_dir


def collect(spec: SweepSpec, path: Path) -> Dict[str, Dict[int, Dict[str, Any]]]:
    """variant -> seed -> the last evaluation of that run (finished runs only)."""
    out: Dict[str, Dict[int, Dict[str, Any]]] = {}
    for variant in spec.variants:
        for seed in spec.seeds:
            folder = seed_dir(path, variant, seed)
            run = run_dir_in(folder) if folder.is_dir() else None
            if run is not None and is_finished(run):
                out.setdefault(variant.name, {})[seed] = last_eval(run)
    return out


def _values(rows: Dict[int, Dict[str, Any]], key: str) -> Dict[int, float]:
    return {s: float(r[key]) for s, r in rows.items()
            if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])}


def metric_keys(results: Dict[str, Dict[int, Dict[str, Any]]]) -> List[str]:
    keys = []
    for rows in results.values():
        for row in rows.values():
            for k, v in row.items():
                if k not in ("step", "kind", "time") and isinstance(v, (int, float)) \
                        and k not in keys:
                    keys.append(k)
    return keys


def _protocol_entries(key: str, results: Dict[str, Dict[int, Dict[str, Any]]]):
    """(where, protocol details) of every value of ``key`` that names its protocol."""
    entries = []
    for variant, rows in results.items():
        for seed, row in rows.items():
            name = (row.get("protocol") or {}).get(key)
            if name is not None:
                details = (row.get("protocol_details") or {}).get(name, {"name": name})
                entries.append((f"{variant} seed {seed}", details))
    return entries


def check_protocols(results: Dict[str, Dict[int, Dict[str, Any]]], keys: List[str]) -> None:
    """Refuse a variant whose seeds measured one metric under different protocols: its
    mean would mix them."""
    for key in keys:
        for variant, rows in results.items():
            check_comparable(key, _protocol_entries(key, {variant: rows}))


def comparable(key: str, a: Dict[int, Dict[str, Any]], b: Dict[int, Dict[str, Any]]) -> bool:
    """Whether two variants measured ``key`` under one protocol, so a paired difference
    means something (not so across data sets: each has its own reference)."""
    try:
        check_comparable(key, _protocol_entries(key, {"a": a, "b": b}))
    except ValueError:
        return False
    return True


def summarise(spec: SweepSpec, results) -> Dict[str, Any]:
    """Per variant and metric: mean, 95% interval, n; paired differences to the baseline."""
    keys, out = metric_keys(results), {"variants": {}, "baseline": spec.baseline}
    check_protocols(results, keys)
    base_rows = results.get(spec.baseline or "", {})
    for variant in spec.variants:
        rows, entry = results.get(variant.name, {}), {}
        for key in keys:
            values = _values(rows, key)
            if not values:
                continue
            cell = {"interval": t_interval(list(values.values()))._asdict(),
                    "seeds": sorted(values)}
            if spec.baseline and variant.name != spec.baseline \
                    and comparable(key, rows, base_rows):
                cmp = paired(values, _values(base_rows, key))
                if cmp is not None:
                    cell["vs_baseline"] = {"diff": cmp.diff._asdict(), "p": cmp.p_value}
            entry[key] = cell
        out["variants"][variant.name] = entry
    return out


def format_table(summary: Dict[str, Any]) -> str:
    """Markdown: one row per variant, each metric as mean [95% interval]; then the
    paired differences from the baseline."""
    variants = summary["variants"]
    keys = list(dict.fromkeys(k for e in variants.values() for k in e))
    lines = ["| variant | seeds | " + " | ".join(keys) + " |",
             "|---|---|" + "---|" * len(keys)]
    for name, entry in variants.items():
        n = max((len(c["seeds"]) for c in entry.values()), default=0)
        cells = [format_interval(_iv(entry[k]["interval"])) if k in entry else "—"
                 for k in keys]
        lines.append(f"| {name} | {n} | " + " | ".join(cells) + " |")
    base = summary.get("baseline")
    if base:
        lines += ["", f"Paired by seed, variant - {base} (mean [95% interval], p; — where "
                  "the two were evaluated under different protocols, e.g. on other data):", "",
                  "| variant | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
        for name, entry in variants.items():
            if name == base:
                continue
            cells = [_paired_cell(entry.get(k, {}).get("vs_baseline")) for k in keys]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def sweep_figures(spec: SweepSpec, path: Path) -> Dict[str, Path]:
    """{variant: the sample figure of its first finished seed}."""
    out = {}
    for variant in spec.variants:
        for seed in spec.seeds:
            folder = seed_dir(path, variant, seed)
            run = run_dir_in(folder) if folder.is_dir() else None
            figure = run / "plots" / "samples_evolution.png" if run else None
            if figure is not None and figure.is_file():
                out[variant.name] = figure
                break
    return out


def report_sweep(path: Path) -> Path:
    """Rewrite a finished sweep's table and report page (``gankit report SWEEP``)."""
    spec = SweepSpec.load(path)
    summary = summarise(spec, collect(spec, path))
    atomic_write_bytes(path / "results.json", (json.dumps(summary, indent=1) + "\n").encode())
    atomic_write_bytes(path / "table.md", format_table(summary).encode())
    return sweep_page(path, sweep_figures(spec, path))


def _iv(d: Dict[str, Any]):
    from .intervals import Interval

    return Interval(**d)


def _paired_cell(cmp: Optional[Dict[str, Any]]) -> str:
    if cmp is None:
        return "—"
    p = "" if math.isnan(cmp["p"]) else f", p = {cmp['p']:.2g}"
    return format_interval(_iv(cmp["diff"])) + p


