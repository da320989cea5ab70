"""The summary table: every run's figures (runs.csv) and their aggregation per method
(ptapt_summary.csv), in percent. Aggregation as defined in ptapt.metrics."""

from __future__ import annotations

import json
from pathlib import Path

from ptapt.atomic import write_csv
from ptapt.config import methods
from ptapt.errors import PtaptError
from ptapt.metrics import aggregate, runs_to_grid

FIGURES = {"ua": "ua", "wa": "wa", "f1": "macro_f1"}


def load_runs(paths: list[str]) -> list[dict]:
    runs = []
    for path in paths:
        try:
            m = json.loads(Path(path).read_text())
            runs.append(
                {
                    "method": m["method"],
                    "fold": int(m["fold"]),
                    "seed": int(m["seed"]),
                    **{name: 100 * m[key] for name, key in FIGURES.items()},
                }
            )
        except (OSError, json.JSONDecodeError, KeyError) as err:
            raise PtaptError(f"{path}: not a fine-tuning metrics.json ({err})") from None
    return sorted(runs, key=lambda r: (_method_rank(r["method"]), r["fold"], r["seed"]))


def _method_rank(method: str) -> tuple[int, str]:
    order = methods()
    return (order.index(method) if method in order else len(order), method)


def summarize(runs: list[dict]) -> list[dict]:
    rows = []
    for method in sorted({r["method"] for r in runs}, key=_method_rank):
        mine = [r for r in runs if r["method"] == method]
        figures = {}
        for name in FIGURES:
            try:
                grid, folds, _ = runs_to_grid([(r["fold"], r["seed"], r[name]) for r in mine])
            except ValueError as err:
                raise PtaptError(f"method {method}: {err}") from None
            figures[name] = aggregate(grid)
        ua = figures["ua"]
        rows.append(
            {
                "method": method,
                "ua_mean": ua.mean,
                "wa_mean": figures["wa"].mean,
                "f1_mean": figures["f1"].mean,
                "ua_fold_std": ua.fold_std,
                "ua_run_std": ua.run_std,
                "n_folds": ua.n_folds,
                "n_seeds": ua.n_seeds,
                **{f"ua_fold{f}": v for f, v in zip(folds, ua.per_fold, strict=True)},
            }
        )
    return rows


def rounded(rows: list[dict]) -> list[dict]:
    return [{k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()} for row in rows]


def table(rows: list[dict]) -> str:
    columns = list(rows[0])
    cells = [columns] + [[str(row[c]) for c in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells)


def run(metrics_files: list[str], runs_csv: str, summary_csv: str) -> str:
    if not metrics_files:
        raise PtaptError("no metrics.json files to summarize")
    runs = load_runs(metrics_files)
    summary = rounded(summarize(runs))
    write_csv(runs_csv, rounded(runs))
    write_csv(summary_csv, summary)
    return table(summary)
