"""The summary tables: every run's figures (runs.csv), their aggregation per method
(ptapt_summary.csv) and paired tests between methods (significance.csv), in percent.
Aggregation as defined in ptapt.metrics, tests as in ptapt.significance."""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

from ptapt import methods
from ptapt.atomic import write_csv
from ptapt.errors import PtaptError
from ptapt.metrics import aggregate, runs_to_grid
from ptapt.significance import compare

FIGURES = {"ua": "ua", "wa": "wa", "f1": "macro_f1"}


def load_runs(paths: list[str]) -> list[dict]:
    runs = []
    for path in paths:
        try:
            runs.append(load_run(Path(path)))
        except (OSError, json.JSONDecodeError, KeyError) as err:
            raise PtaptError(f"{path}: not a fine-tuning metrics.json ({err})") from None
    return sorted(runs, key=lambda r: (methods.rank(r["method"]), r["fold"], r["seed"]))


def load_run(path: Path) -> dict:
    """One run's row: its figures in percent, and where recorded, EER, the fine-tuning mode,
    trainable parameters and training seconds (timing.json beside the metrics)."""
    m = json.loads(path.read_text())
    run = {"method": m["method"], "fold": int(m["fold"]), "seed": int(m["seed"])}
    run.update({name: 100 * m[key] for name, key in FIGURES.items()})
    if "eer_macro" in m:  # runs scored before EER was added have none
        run["eer"] = 100 * m["eer_macro"]
    run.update({k: m[k] for k in ("mode", "trainable_parameters") if k in m})
    timing = path.with_name("timing.json")
    if timing.exists():  # logmel trains no network and times nothing
        run["train_seconds"] = json.loads(timing.read_text())["seconds"]
    return run


def grids(runs: list[dict], figure: str) -> dict[str, tuple]:
    """method -> ((seeds, folds) grid of `figure`, fold ids, seed ids)."""
    out = {}
    for method in sorted({r["method"] for r in runs}, key=methods.rank):
        triples = [(r["fold"], r["seed"], r[figure]) for r in runs if r["method"] == method]
        try:
            out[method] = runs_to_grid(triples)
        except ValueError as err:
            raise PtaptError(f"method {method}: {err}") from None
    return out


def summarize(runs: list[dict]) -> list[dict]:
    per_figure = {name: grids(runs, name) for name in FIGURES}
    rows = []
    for method, (grid, folds, _) in per_figure["ua"].items():
        ua = aggregate(grid)
        wa, f1 = (aggregate(per_figure[name][method][0]) for name in ("wa", "f1"))
        row = {"method": method, "ua_mean": ua.mean, "wa_mean": wa.mean, "f1_mean": f1.mean}
        row.update(ua_fold_std=ua.fold_std, ua_fold_std_of_means=ua.fold_std_of_means)
        row.update(ua_run_std=ua.run_std, n_folds=ua.n_folds, n_seeds=ua.n_seeds)
        row.update({f"ua_fold{f}": v for f, v in zip(folds, ua.per_fold, strict=True)})
        rows.append(row)
    if all("eer" in r for r in runs):
        for row, (grid, _, _) in zip(rows, grids(runs, "eer").values(), strict=True):
            row["eer_mean"] = aggregate(grid).mean
    return rows


def significance(runs: list[dict]) -> list[dict]:
    """Every later method against every earlier one (table order), on UA over matched runs."""
    ua = grids(runs, "ua")
    rows = []
    for earlier, later in combinations(ua, 2):
        (a, folds_a, seeds_a), (b, folds_b, seeds_b) = ua[later], ua[earlier]
        if (folds_a, seeds_a) != (folds_b, seeds_b):
            raise PtaptError(f"{later} and {earlier} were not run on the same folds and seeds")
        rows.append({"method": later, "versus": earlier, **compare(a, b)})
    return rows


def rounded(rows: list[dict]) -> list[dict]:
    def tidy(key, value):
        if not isinstance(value, float):
            return value
        return round(value, 4) if key.startswith("p_") else round(value, 2)

    return [{k: tidy(k, v) for k, v in row.items()} for row in rows]


def table(rows: list[dict]) -> str:
    columns = list(rows[0])
    cells = [columns] + [[str(row[c]) for c in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells)


def run(
    metrics_files: list[str],
    runs_csv: str,
    summary_csv: str,
    significance_csv: str,
    backbone: str | None = None,
) -> str:
    """`backbone` names the initial backbone of the runs that have one (not logmel's) in
    runs.csv, for tables that compare experiments."""
    if not metrics_files:
        raise PtaptError("no metrics.json files to summarize")
    runs = load_runs(metrics_files)
    if backbone:
        for r in runs:
            r["backbone"] = backbone if methods.has_backbone(r["method"]) else ""
    summary = rounded(summarize(runs))
    tests = rounded(significance(runs))
    write_csv(runs_csv, rounded(runs))
    write_csv(summary_csv, summary)
    write_csv(significance_csv, tests)
    text = table(summary)
    if tests:
        text += "\n\nPaired sign-flip tests on UA (method - versus, points):\n" + table(tests)
    return text
