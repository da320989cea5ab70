"""Paper-shaped tables from results: `results/tables/*.md` and `.csv`.

- `<dataset>_by_fold`: the paper's Tables 1 and 2: one row per method, one column per held-out
  group (IEMOCAP's sessions, SAVEE's speakers DC JE JK KL, ...) and their mean, UA in %, each
  cell the mean over seeds.
- `<dataset>_methods`: the shape of the paper's Table 5 for one dataset: UA, WA, macro-F1 and
  EER (where scored) per method, mean and fold std.
- `data_efficiency_<name>`: the paper's Table 4, from datasets that test on the same single
  fold with different `split.train_share`: one column per amount of labelled training audio,
  V-FT, TAPT and P-TAPT UA, and the ratio row 100 (TAPT - V-FT) / (P-TAPT - V-FT).
- `<dataset>_experiments`: a dataset's recipe and its experiments side by side (the seed
  studies): figures, trainable parameters and training time per experiment and method, the
  backbone x mode grid of UA / WA, and each experiment's confusion matrix in %.
- `domain_shift`: the paper's Table 3 (ptapt.stages.domain_shift).

Every method of the table order gets a row; a method without runs, or a figure that was not
scored, is a dash with a note saying what is missing.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ptapt import methods
from ptapt.atomic import write_csv, write_text
from ptapt.data.manifest import read_manifest, select
from ptapt.errors import PtaptError
from ptapt.stages import study_tables

MISSING = "—"
TITLES = {
    "by_fold": lambda d: f"Comparison of methods on {d} in UA (%), by held-out group",
    "methods": lambda d: f"Methods on {d}: mean over folds (± fold std), in %",
}
MODES = ("entire", "partial", "lora", "frozen")  # grid columns: most trained first


@dataclass(frozen=True)
class Selection:
    """The tables to write; all empty: every table the results allow."""

    datasets: list[str] = field(default_factory=list)
    experiments: list[str] = field(default_factory=list)
    efficiency: dict[str, list[str]] = field(default_factory=dict)
    domain_shift: list[str] = field(default_factory=list)
    name: str = "all"  # the domain-shift table's: domain_shift_<name>

    def is_empty(self) -> bool:
        return not (self.datasets or self.experiments or self.efficiency or self.domain_shift)


def run(results: str | Path, out: str | Path, chosen: Selection | None = None) -> list[Path]:
    results, out = Path(results), Path(out)
    chosen = found(results) if chosen is None or chosen.is_empty() else chosen
    written = []
    for name in chosen.datasets:
        written += dataset_tables(results / name, out)
    for name in chosen.experiments:
        written += study_tables.experiment_tables(results / name, out)
    for name, members in chosen.efficiency.items():
        runs = {results / m: read_runs(results / m / "runs.csv") for m in members}
        written += efficiency_table(name, [_efficiency_member(d, r) for d, r in runs.items()], out)
    if chosen.domain_shift:
        directories = [results / d for d in chosen.domain_shift]
        written += study_tables.domain_shift_table(directories, out / f"domain_shift_{chosen.name}")
    return written


def found(results: Path) -> Selection:
    """Every table whose results exist under `results`."""
    datasets = sorted(p.parent for p in results.glob("*/runs.csv"))
    if not datasets:
        raise PtaptError(f"{results}: no <dataset>/runs.csv yet; run a summary target first")
    runs = {directory: read_runs(directory / "runs.csv") for directory in datasets}
    return Selection(
        [d.name for d in datasets],
        [d.name for d in datasets if any(d.glob("*/runs.csv"))],
        efficiency_series(runs),
        sorted(p.parent.name for p in results.glob("*/domain_shift.csv")),
    )


def dataset_tables(directory: Path, out: Path) -> list[Path]:
    """`<dataset>_by_fold` and `<dataset>_methods` of a dataset's own runs."""
    dataset_runs = read_runs(directory / "runs.csv")
    groups = _group_names(directory, sorted({r["fold"] for r in dataset_runs}))
    written = []
    for name, (rows, notes) in (
        ("by_fold", by_fold(dataset_runs, groups)),
        ("methods", by_method(dataset_runs)),
    ):
        stem = out / f"{directory.name}_{name}"
        written += write_table(stem, TITLES[name](directory.name), rows, notes)
    return written


def efficiency_table(name: str, members: list[dict], out: Path) -> list[Path]:
    """The table, and its figure (UA against hours) as data_efficiency_<name>_curve.png."""
    from ptapt import plots  # matplotlib only where a figure is drawn

    members = sorted(members, key=lambda m: m["hours"])
    rows, notes = data_efficiency(members)
    title = f"Data efficiency on {name}, UA (%) by hours of labelled training audio"
    points = [
        {"method": methods.title(method), "hours": m["hours"], "ua": np.mean(ua)}
        for method in methods.compared()
        for m in members
        if (ua := [r["ua"] for r in m["runs"] if r["method"] == method])
    ]
    figure = plots.efficiency(points, out / f"data_efficiency_{name}_curve")
    return write_table(out / f"data_efficiency_{name}", title, rows, notes) + figure


def write_table(stem: Path, title: str, rows: list[dict], notes: list[str]) -> list[Path]:
    write_csv(stem.with_suffix(".csv"), rows)
    write_text(stem.with_suffix(".md"), markdown(title, rows, notes))
    return [stem.with_suffix(".csv"), stem.with_suffix(".md")]


def efficiency_series(runs: dict[Path, list[dict]]) -> dict[str, list[str]]:
    """Names of the datasets run on one fold with the same test set, at least one of them on a
    share of its training utterances, grouped by that test set's held-out group."""
    groups = defaultdict(list)
    for directory, dataset_runs in runs.items():
        folds = sorted({r["fold"] for r in dataset_runs})
        path = directory / "folds" / f"fold{folds[0]}.json"
        if len(folds) != 1 or not path.exists():
            continue
        fold = json.loads(path.read_text())
        share = fold.get("train_share", 1.0)
        groups[(fold["held_out"], tuple(sorted(fold["test"])))].append((directory.name, share))
    return {
        held: [name for name, _ in members]
        for (held, _), members in groups.items()
        if len(members) > 1 and min(share for _, share in members) < 1
    }


def _efficiency_member(directory: Path, dataset_runs: list[dict]) -> dict:
    """A dataset of a data-efficiency series: its runs, train share and labelled hours."""
    folds = sorted({r["fold"] for r in dataset_runs})
    if len(folds) != 1:
        raise PtaptError(f"{directory}: a data-efficiency dataset runs one fold, not {folds}")
    fold = json.loads((directory / "folds" / f"fold{folds[0]}.json").read_text())
    member = {"dir": directory, "runs": dataset_runs, "share": fold.get("train_share", 1.0)}
    member["hours"] = _hours(directory / "manifest.tsv", fold["train"])
    return member


def _hours(manifest: Path, ids: list[str]) -> float:
    return sum(r.duration_s for r in select(read_manifest(manifest), ids, manifest)) / 3600


def data_efficiency(members: list[dict]) -> tuple[list[dict], list[str]]:
    columns = [f"{m['hours']:.2f} h ({m['share']:g})" for m in members]
    ua = {}
    for column, member in zip(columns, members, strict=True):
        for r in member["runs"]:
            ua.setdefault((r["method"], column), []).append(r["ua"])
    rows, notes = [], []
    for method in methods.compared():
        cells = {c: np.mean(ua[(method, c)]) if (method, c) in ua else None for c in columns}
        rows.append({"method": methods.title(method), **{c: _cell(v) for c, v in cells.items()}})
        if None in cells.values():
            notes.append(f"{methods.title(method)}: no runs in some columns")
    ratio, no_gain = {"method": "Ratio (%)"}, []
    for column in columns:
        vft, tapt, ptapt = (ua.get((m, column)) for m in ("vft", "tapt", "ptapt"))
        gain = np.mean(ptapt) - np.mean(vft) if vft and ptapt else None
        if gain is not None and gain <= 0:
            no_gain.append(column)  # the ratio compares gains over V-FT: none to compare
        usable = tapt and gain is not None and gain > 0
        ratio[column] = _cell(100 * (np.mean(tapt) - np.mean(vft)) / gain if usable else None)
    rows.append(ratio)
    notes.append("ratio: 100 (TAPT - V-FT) / (P-TAPT - V-FT); below 100, P-TAPT gains more")
    if no_gain:
        notes.append(f"no ratio where P-TAPT does not beat V-FT: {', '.join(no_gain)}")
    notes.append("datasets: " + ", ".join(m["dir"].name for m in members))
    return rows, notes


def read_runs(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    numeric = ("ua", "wa", "f1", "eer", "trainable_parameters", "train_seconds")
    rows = [{k: v for k, v in r.items() if v != ""} for r in rows]  # empty: not recorded
    return [
        {**r, "fold": int(r["fold"]), **{k: float(r[k]) for k in numeric if k in r}} for r in rows
    ]


def _group_names(directory: Path, folds: list[int]) -> dict[int, str]:
    """Fold -> the name of its held-out group, from the fold files when they are there."""
    names = {}
    for fold in folds:
        path = directory / "folds" / f"fold{fold}.json"
        held = json.loads(path.read_text()).get("held_out") if path.exists() else None
        names[fold] = held or f"fold {fold}"
    return names


def by_fold(runs: list[dict], groups: dict[int, str]) -> tuple[list[dict], list[str]]:
    per = defaultdict(list)
    for r in runs:
        per[(r["method"], r["fold"])].append(r["ua"])
    rows, notes = [], []
    for method in row_order(runs):
        row = {"method": methods.title(method)}
        means = [np.mean(per[(method, f)]) if per[(method, f)] else None for f in groups]
        for name, value in zip(groups.values(), means, strict=True):
            row[name] = _cell(value)
        done = [m for m in means if m is not None]
        row["Mean"] = _cell(np.mean(done) if len(done) == len(means) else None)
        if not done:
            notes.append(f"{methods.title(method)}: no runs (add `{method}` to the methods)")
        elif len(done) < len(means):
            notes.append(f"{methods.title(method)}: folds missing, so no mean")
        rows.append(row)
    seeds = sorted({r["seed"] for r in runs})
    notes.append(f"each cell: mean over seeds {', '.join(seeds)}")
    return rows, notes


def by_method(runs: list[dict]) -> tuple[list[dict], list[str]]:
    rows, notes = [], []
    for method in row_order(runs):
        mine = [r for r in runs if r["method"] == method]
        row = {"method": methods.title(method)}
        for figure, title in (("ua", "UA"), ("wa", "WA"), ("f1", "F1"), ("eer", "EER")):
            row[title] = mean_and_fold_std(mine, figure)
        if not mine:
            notes.append(f"{methods.title(method)}: no runs (add `{method}` to the methods)")
        elif row["EER"] == MISSING:
            notes.append(f"{methods.title(method)}: EER not scored in these runs")
        rows.append(row)
    return rows, notes


def row_order(runs: list[dict]) -> list[str]:
    found = {r["method"] for r in runs}
    return sorted(found | set(methods.METHODS), key=methods.rank)


def fold_means(runs: list[dict], figure: str) -> list[float]:
    """`figure` averaged over seeds within each fold."""
    per_fold = defaultdict(list)
    for r in runs:
        per_fold[r["fold"]].append(r[figure])
    return [float(np.mean(v)) for v in per_fold.values()]


def mean_and_fold_std(runs: list[dict], figure: str) -> str:
    if not runs or any(figure not in r for r in runs):
        return MISSING
    means = fold_means(runs, figure)
    return f"{np.mean(means):.1f} ± {np.std(means):.1f}"


def _cell(value) -> str:
    return MISSING if value is None else f"{value:.1f}"


def markdown(title: str, rows: list[dict], notes: list[str]) -> str:
    columns = list(rows[0])
    lines = [f"**{title}**", "", "| " + " | ".join(columns) + " |"]
    lines.append("|" + "---|" * len(columns))
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join([*lines, "", *(f"- {note}" for note in notes)]) + "\n"


def join(tables: list[str | Path], out: str | Path) -> None:
    """Several markdown tables in one file, in the order given."""
    parts = []
    for path in tables:
        try:
            parts.append(Path(path).read_text())
        except OSError as err:
            raise PtaptError(f"{path}: cannot read the table ({err})") from None
    write_text(out, "\n".join(parts))
