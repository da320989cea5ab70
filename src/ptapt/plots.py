"""Figures of a dataset's results, each a PNG beside the CSV it is drawn from.

`draw(results_dir, out_dir)` draws everything found under results/{dataset}/ (or an
experiment's directory) into out_dir/<kind>/:

- summary/ua_by_fold: UA per method and fold, the bar the mean over seeds, the line their range;
- confusion/<fold>_<method>_<seed>: the confusion matrix in counts and in % of each true class;
- curves/<fold>_<method>_<seed>: stage 4's training loss, accuracy and learning rate by step;
- pretraining/<fold>_<stage>: stage 1's and stage 3's curves (TAPT's contrastive accuracy, code
  perplexity and Gumbel temperature, P-TAPT's masked accuracy per K);
- clusters/<fold>: stage 2's purity (against the majority-label share) and NMI (against the
  NMI of shuffled labels) per K.

matplotlib's Agg backend: no display needed.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ptapt.atomic import atomic_path, write_csv  # noqa: E402
from ptapt.methods import METHODS  # noqa: E402

KINDS = ("summary", "confusion", "curves", "pretraining", "clusters")
# Curve columns drawn in one panel each, by the name's start: losses, accuracies, the rest.
PANELS = (
    ("loss", ("loss", "frame_loss", "utterance_loss")),
    ("per masked frame", ("contrastive", "diversity")),
    ("accuracy", ("accuracy", "acc_", "frame_acc")),
    ("learning rate", ("lr",)),
    ("code perplexity", ("perplexity",)),
    ("Gumbel temperature", ("temperature",)),
)


def draw(results: str | Path, out: str | Path) -> list[Path]:
    results, out = Path(results), Path(out)
    for kind in KINDS:
        (out / kind).mkdir(parents=True, exist_ok=True)
    written = []
    paths = sorted(results.glob("fold*/*/seed*/metrics.json"))
    runs = {path: json.loads(path.read_text()) for path in paths}  # each read once
    if runs:
        written += summary(list(runs.values()), out / "summary" / "ua_by_fold")
    for path, metrics in runs.items():
        name = "_".join(path.parent.relative_to(results).parts)
        written += confusion(metrics, out / "confusion" / name)
        if (path.parent / "curve.csv").exists():  # logmel has no training curve
            written += curves(path.parent / "curve.csv", name, out / "curves" / name)
    for curve in sorted(
        [*results.glob("fold*/stage1/curve.csv"), *results.glob("fold*/stage3/*/curve.csv")]
    ):
        name = "_".join(curve.parent.relative_to(results).parts)
        written += curves(curve, name, out / "pretraining" / name)
    for report in sorted(results.glob("fold*/stage2/cluster_report.json")):
        fold = report.parent.parent.name
        written += clusters(report, fold, out / "clusters" / fold)
    return written


def save(figure, stem: Path, rows: list[dict]) -> list[Path]:
    """The figure as stem.png and its data as stem.csv, each written atomically."""
    with atomic_path(stem.with_suffix(".png")) as tmp:
        figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    write_csv(stem.with_suffix(".csv"), rows)
    return [stem.with_suffix(".png"), stem.with_suffix(".csv")]


def summary(runs: list[dict], stem: Path) -> list[Path]:
    """UA per method and fold of the runs' metrics.json contents."""
    ua, classes = defaultdict(list), set()
    for m in runs:
        ua[(m["method"], int(m["fold"]))].append(100 * m["ua"])
        classes.add(len(m["labels"]))
    order = [m for m in METHODS if any(k[0] == m for k in ua)]
    folds = sorted({fold for _, fold in ua})
    rows = [
        {"method": m, "fold": f, "ua_mean": np.mean(v), "ua_min": min(v), "ua_max": max(v)}
        for m in order
        for f in folds
        if (v := ua.get((m, f)))
    ]
    figure, axis = plt.subplots(figsize=(max(6.0, 1.5 + 0.25 * len(folds) * len(order)), 3.6))
    width = 0.8 / len(order)
    for i, method in enumerate(order):
        mine = [r for r in rows if r["method"] == method]
        x = np.array([folds.index(r["fold"]) for r in mine]) + (i - (len(order) - 1) / 2) * width
        means = np.array([r["ua_mean"] for r in mine])
        spread = [means - [r["ua_min"] for r in mine], [r["ua_max"] for r in mine] - means]
        axis.bar(x, means, width, label=method, yerr=spread, capsize=2)
    if len(classes) == 1:
        axis.axhline(100 / classes.pop(), color="grey", linestyle="--", linewidth=1)
    axis.set_xticks(range(len(folds)), [f"fold {f}" for f in folds])
    axis.set_ylabel("UA (%)")
    axis.set_ylim(0, 100)
    axis.legend(ncol=len(order), fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.1))
    axis.set_title("UA by method and fold (bar: mean over seeds; line: their range)", fontsize=10)
    return save(figure, stem, rows)


def confusion(m: dict, stem: Path) -> list[Path]:
    """One run's confusion matrix from its metrics.json contents."""
    labels, counts = m["labels"], np.array(m["confusion"], dtype=float)
    shares = 100 * counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    figure, axes = plt.subplots(1, 2, figsize=(4 + 0.9 * len(labels), 0.45 * len(labels) + 2))
    for axis, values, title, form in (
        (axes[0], counts, "counts", "{:.0f}"),
        (axes[1], shares, "% of each true class", "{:.0f}"),
    ):
        axis.imshow(values / max(values.max(), 1), cmap="Blues", vmin=0, vmax=1)
        for (i, j), v in np.ndenumerate(values):
            colour = "white" if v > 0.6 * values.max() else "black"
            axis.text(j, i, form.format(v), ha="center", va="center", color=colour, fontsize=8)
        axis.set_xticks(range(len(labels)), labels)
        axis.set_yticks(range(len(labels)), labels)
        axis.set_xlabel("predicted")
        axis.set_title(title)
    axes[0].set_ylabel("true")
    figure.suptitle(f"{stem.name}: UA {100 * m['ua']:.1f} %, WA {100 * m['wa']:.1f} %")
    rows = [
        {"true": t, **{p: int(c) for p, c in zip(labels, line, strict=True)}}
        for t, line in zip(labels, counts, strict=True)
    ]
    return save(figure, stem, rows)


def read_curve(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(fh)]


def curves(curve_csv: Path, title: str, stem: Path) -> list[Path]:
    rows = read_curve(curve_csv)
    columns = list(rows[0]) if rows else []
    panels = [(name, [c for c in columns if c.startswith(starts)]) for name, starts in PANELS]
    panels = [(name, cols) for name, cols in panels if cols]
    ncols = min(3, max(1, len(panels)))
    nrows = -(-max(1, len(panels)) // ncols)
    figure, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.6 * nrows), squeeze=False)
    steps = [r["step"] for r in rows]
    for axis, (name, cols) in zip(axes.flat, panels, strict=False):
        for column in cols:
            values = [r.get(column, np.nan) for r in rows]
            axis.plot(steps, values, "o-", markersize=2, linewidth=1, label=column)
        axis.set_xlabel("step")
        axis.set_title(name)
        if len(cols) > 1:
            axis.legend(fontsize="x-small")
    for axis in axes.flat[len(panels) :]:
        axis.set_visible(False)
    figure.suptitle(title)
    figure.tight_layout()
    return save(figure, stem, rows)


def clusters(report_path: Path, fold: str, stem: Path) -> list[Path]:
    report = json.loads(report_path.read_text())
    ks = sorted(report, key=lambda k: int(k.lstrip("k")))
    rows = [{"k": int(k.lstrip("k")), **report[k]} for k in ks]
    figure, axes = plt.subplots(1, 2, figsize=(7, 2.8))
    x = np.arange(len(ks))
    for axis, (measure, baseline, title) in zip(
        axes,
        [
            ("purity", "prior", "purity (bar) vs majority share (line)"),
            ("nmi", "nmi_shuffled", "NMI (bar) vs shuffled labels (line)"),
        ],
        strict=True,
    ):
        axis.bar(x, [r[measure] for r in rows], color="tab:blue")
        axis.plot(x, [r[baseline] for r in rows], "k_", markersize=20, mew=2)
        axis.set_xticks(x, [f"K={r['k']}" for r in rows])
        axis.set_title(title, fontsize="small")
    figure.suptitle(f"{fold}: clusters of the stage-1 frame features against emotion labels")
    figure.tight_layout()
    return save(figure, stem, rows)


def efficiency(rows: list[dict], stem: Path) -> list[Path]:
    """UA against hours of labelled training audio, one line per method (Table 4's figure);
    rows: {"method", "hours", "ua"}."""
    figure, axis = plt.subplots(figsize=(4.5, 3.2))
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = sorted((r for r in rows if r["method"] == method), key=lambda r: r["hours"])
        axis.plot([r["hours"] for r in mine], [r["ua"] for r in mine], "o-", label=method)
    axis.set_xscale("log", base=2)
    axis.set_xlabel("hours of labelled training audio")
    axis.set_ylabel("UA (%)")
    axis.legend(fontsize="small")
    axis.set_title("Data efficiency")
    return save(figure, stem, rows)
