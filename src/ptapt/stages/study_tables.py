"""Tables of the studies beyond the method comparison.

- `<dataset>_experiments` (the seed studies): the dataset's recipe and each of its experiments
  (results/<dataset>/<experiment>/runs.csv) per method: UA, WA, F1, EER, trainable parameters
  and training time per run; then the backbone x mode grid of UA / WA where the experiments
  form one; then each experiment's confusion matrix over all its runs, in % of each true class.
- `domain_shift` (the paper's Table 3): per dataset, the initial backbone's pretraining loss on
  the reference read speech and on the dataset, and on the test folds the initial, TAPT and
  P-TAPT backbones' loss.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from ptapt import methods
from ptapt.atomic import write_csv, write_text
from ptapt.errors import PtaptError
from ptapt.stages import tables

OWN = "(recipe)"  # the dataset's own recipe among its experiments


def experiment_tables(directory: Path, out: Path) -> list[Path]:
    runs = {OWN: tables.read_runs(directory / "runs.csv")}
    for path in sorted(directory.glob("*/runs.csv")):
        runs[path.parent.name] = tables.read_runs(path)
    rows = experiment_rows(runs)
    grid_rows, grid_notes = grid(runs)
    stem = out / f"{directory.name}_experiments"
    write_csv(stem.with_suffix(".csv"), rows)
    title = f"Experiments on {directory.name}: mean over folds (± fold std), in %"
    notes = ["trainable: parameters updated in fine-tuning; train s: seconds per run (mean)"]
    text = tables.markdown(title, rows, notes)
    if grid_rows:
        text += "\n" + tables.markdown("UA / WA (%) by backbone and mode", grid_rows, grid_notes)
    for name, method in _first_methods(runs):
        matrix, labels = confusion(directory, name, method, runs[name])
        text += "\n" + tables.markdown(
            f"Confusion of {name} ({method}), % of each true class",
            matrix,
            [f"rows: true class; columns: predicted ({labels})"],
        )
    write_text(stem.with_suffix(".md"), text)
    return [stem.with_suffix(".csv"), stem.with_suffix(".md")]


def experiment_rows(runs: dict[str, list[dict]]) -> list[dict]:
    rows = []
    for name, experiment_runs in runs.items():
        for method in tables.row_order(experiment_runs):
            mine = [r for r in experiment_runs if r["method"] == method]
            if not mine or (not methods.has_backbone(method) and name != OWN):
                continue  # a method without a backbone is the dataset's, shown once
            row = {"experiment": name, "backbone": mine[0].get("backbone") or tables.MISSING}
            row.update(mode=mine[0].get("mode") or tables.MISSING, method=method)
            for figure, title in (("ua", "UA"), ("wa", "WA"), ("f1", "F1"), ("eer", "EER")):
                row[title] = tables.mean_and_fold_std(mine, figure)
            row["trainable"] = _mean_cell(mine, "trainable_parameters", "{:,.0f}")
            row["train s"] = _mean_cell(mine, "train_seconds", "{:.1f}")
            row["runs"] = len(mine)
            rows.append(row)
    return rows


def _mean_cell(runs: list[dict], key: str, form: str) -> str:
    values = [r[key] for r in runs if key in r]
    return form.format(np.mean(values)) if len(values) == len(runs) else tables.MISSING


def grid(runs: dict[str, list[dict]]) -> tuple[list[dict], list[str]]:
    """UA / WA of plain fine-tuning (V-FT) by backbone (rows) and mode (columns), when there
    are at least two of each; the first experiment of a cell counts."""
    plain = methods.compared()[0]
    cells = {}
    for experiment_runs in runs.values():
        vft = [r for r in experiment_runs if r["method"] == plain]
        if vft:
            key = (vft[0].get("backbone") or tables.MISSING, vft[0].get("mode") or tables.MISSING)
            cells.setdefault(key, vft)
    backbones = list(dict.fromkeys(b for b, _ in cells))
    modes = [m for m in tables.MODES if any(m == mode for _, mode in cells)]
    if len(backbones) < 2 or len(modes) < 2:
        return [], []
    out = []
    for backbone in backbones:
        line = {"backbone": backbone}
        for mode in modes:
            vft = cells.get((backbone, mode))
            line[mode] = f"{_mean(vft, 'ua')} / {_mean(vft, 'wa')}" if vft else tables.MISSING
        out.append(line)
    return out, ["V-FT runs; each cell: mean over folds of the mean over seeds"]


def _mean(runs: list[dict], figure: str) -> str:
    return f"{np.mean(tables.fold_means(runs, figure)):.1f}"


def _first_methods(runs: dict[str, list[dict]]):
    """The method whose confusion matrix each experiment shows: V-FT (what the experiments
    vary), or else its first fine-tuned method in table order."""
    for name, experiment_runs in runs.items():
        present = {r["method"] for r in experiment_runs if methods.has_backbone(r["method"])}
        tuned = [m for m in tables.row_order(experiment_runs) if m in present]
        plain = methods.compared()[0]
        if tuned:
            yield name, plain if plain in present else tuned[0]


def confusion(directory: Path, name: str, method: str, runs: list[dict]):
    """The confusion matrix summed over an experiment's runs of `method`, in % of each row."""
    home = directory if name == OWN else directory / name
    total, labels = None, None
    for r in (r for r in runs if r["method"] == method):
        path = home / f"fold{r['fold']}" / method / f"seed{r['seed']}" / "metrics.json"
        try:
            metrics = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise PtaptError(f"{path}: cannot read the run's metrics ({err})") from None
        matrix = np.array(metrics["confusion"], dtype=float)
        total = matrix if total is None else total + matrix
        labels = metrics["labels"]
    shares = 100 * total / np.maximum(total.sum(axis=1, keepdims=True), 1)
    rows = [
        {"true": lab, **{p: f"{v:.1f}" for p, v in zip(labels, line, strict=True)}}
        for lab, line in zip(labels, shares, strict=True)
    ]
    return rows, " ".join(labels)


def domain_shift_table(directories: list[Path], stem: Path) -> list[Path]:
    """One row per dataset: reference and dataset loss of the initial backbone, and the test
    folds' mean loss of the initial, TAPT and P-TAPT backbones."""
    rows = []
    for directory in directories:
        path = directory / "domain_shift.csv"
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                rows.append(_shift_row(directory.name, list(csv.DictReader(fh))))
        except OSError as err:
            raise PtaptError(f"{path}: cannot read ({err}); run its domain_shift target") from None
    notes = [
        "loss: wav2vec 2.0 pretraining loss per masked frame (contrastive + diversity), eval "
        "mode, the same masks and negatives for every model on the same audio; lower: closer "
        "to what the model was trained on",
        "test: mean over folds of each backbone on its fold's test audio; P-TAPT is scored "
        "with the initial backbone's quantizer (it trains none)",
        "every row: results/<dataset>/domain_shift.csv",
    ]
    title = "Wav2vec 2.0 pretraining loss per dataset (the paper's Table 3)"
    return tables.write_table(stem, title, rows, notes)


def _shift_row(dataset: str, found: list[dict]) -> dict:
    by = defaultdict(list)
    for r in found:
        by[(r["model"], r["audio"])].append(float(r["loss"]))

    def cell(model, audio):
        values = by.get((model, audio))
        return f"{np.mean(values):.3f}" if values else tables.MISSING

    return {
        "dataset": dataset,
        "reference": cell("initial", "reference"),
        "all audio": cell("initial", "all"),
        "test: initial": cell("initial", "test"),
        **{f"test: {methods.title(m)}": cell(m, "test") for m in methods.names(methods.CONTINUED)},
    }
