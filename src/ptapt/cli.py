"""`ptapt <command>`: one subcommand per pipeline step; Snakemake rules call these."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from ptapt import methods
from ptapt.config import parse_json, stage_config
from ptapt.corpora import CORPORA
from ptapt.errors import PtaptError

log = logging.getLogger("ptapt")


def cmd_synth_corpus(args: argparse.Namespace) -> None:
    from ptapt.data.synthetic_corpus import write_corpus

    out = write_corpus(args.out, args.preset, args.seed, args.jobs, args.layout)
    log.info("wrote the %s %s corpus (seed %d) to %s", args.preset, args.layout, args.seed, out)


def cmd_manifest(args: argparse.Namespace) -> None:
    from ptapt.corpora import corpus
    from ptapt.data.manifest import check_counts, from_corpus

    source = corpus(args.corpus)
    rows = from_corpus(source, args.root)
    if args.expect_counts:
        check_counts(source, rows, args.root)
    _write_labelled(rows, args, list(source.labels))


def cmd_pool(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from ptapt.data.manifest import read_manifest

    if len(args.names) != len(args.manifests):
        raise PtaptError("give one --names entry per --manifests entry")
    rows = [
        replace(
            r, utt_id=f"{name}/{r.utt_id}", speaker=f"{name}/{r.speaker}", group=f"{name}/{r.group}"
        )
        for name, manifest in zip(args.names, args.manifests, strict=True)
        for r in read_manifest(manifest)
    ]
    _write_labelled(rows, args, [])


def _write_labelled(rows, args: argparse.Namespace, native: list[str]) -> None:
    """Apply the dataset's labels and label map, write the manifest, print its counts."""
    from ptapt.data.manifest import count_table, relabel, write_manifest

    labels = args.labels.split(",") if args.labels else native
    if not labels:
        raise PtaptError("--labels is required: this source has no native label set")
    rows = relabel(rows, labels, parse_json(args.label_map, "--label-map"))
    write_manifest(rows, args.out)
    print(count_table(rows, labels))
    log.info("wrote %d utterances to %s", len(rows), args.out)


def cmd_folds(args: argparse.Namespace) -> None:
    from ptapt.data.folds import keep_share, make_folds, write_fold
    from ptapt.data.manifest import read_manifest

    split = stage_config("split", parse_json(args.split, "--split"))
    rows = read_manifest(args.manifest)
    folds = make_folds(rows, split.scheme, split.valid_share, split.seed, split.k, split.dir)
    folds = [keep_share(f, split.train_share, split.subset_stages) for f in folds]
    known = {f.fold for f in folds}
    wanted = set(args.fold or known)
    if wanted - known:
        raise PtaptError(
            f"{args.manifest}: no fold {sorted(wanted - known)}; folds are {sorted(known)}"
        )
    for fold in folds:
        if fold.fold in wanted:
            write_fold(fold, Path(args.out_dir) / f"fold{fold.fold}.json")
            log.info(
                "fold %d (held out %s): train %d, valid %d, test %d",
                fold.fold,
                fold.held_out,
                len(fold.train),
                len(fold.valid),
                len(fold.test),
            )


def _threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)
    os.environ.setdefault("OMP_NUM_THREADS", str(n))


def cmd_stage1(args: argparse.Namespace) -> None:
    from ptapt.stages import stage1

    _threads(args.threads)
    stage1.run(
        args.manifest,
        args.fold,
        stage_config("stage1", parse_json(args.config, "--config")),
        args.labels.split(","),
        _backbone(args.backbone),
        args.out_dir,
        args.work_dir,
    )


def cmd_stage2(args: argparse.Namespace) -> None:
    import faiss

    from ptapt.stages import stage2

    _threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    cfg = stage_config("stage2", parse_json(args.config, "--config"))
    stage2.run(args.manifest, args.fold, args.stage1, cfg, args.out_dir)


def cmd_stage3(args: argparse.Namespace) -> None:
    from ptapt.stages import stage3

    _threads(args.threads)
    if (args.audio_dir is None) == (args.manifest is None or args.fold is None):
        raise PtaptError("give either --manifest and --fold, or --audio-dir")
    cfg = stage_config(args.method, parse_json(args.config, "--config"))
    backbone = _backbone(args.backbone)
    unlabelled = methods.METHODS[args.method].unlabelled_audio
    audio = (
        stage3.directory_audio(args.audio_dir)
        if args.audio_dir
        else stage3.fold_audio(args.manifest, args.fold, unlabelled=unlabelled)
    )
    stage3.run(
        args.method,
        audio,
        backbone,
        cfg,
        args.out_dir,
        args.work_dir,
        args.pseudo_labels,
        args.keep_pretraining_head,
    )


def cmd_pretrain_backbone(args: argparse.Namespace) -> None:
    """A backbone pretrained from scratch as its recipe file says: {"preset": architecture,
    "pretraining": TAPT config section, "units": the acoustic units predicted beside it}."""
    from ptapt.stages import stage3

    _threads(args.threads)
    if not Path(args.recipe).is_file():
        raise PtaptError(f"{args.recipe}: no such recipe file")
    recipe = parse_json(Path(args.recipe).read_text(), args.recipe)
    if set(recipe) != {"preset", "pretraining", "units"}:
        raise PtaptError(f"{args.recipe}: give exactly the keys 'preset', 'pretraining', 'units'")
    cfg = stage_config("tapt", recipe["pretraining"])
    units = stage_config("units", recipe["units"])
    backbone = _backbone(json.dumps({"preset": recipe["preset"]}))
    audio = stage3.directory_audio(args.audio_dir)
    stage3.from_scratch(audio, backbone, cfg, units, args.out_dir, args.work_dir)


def cmd_finetune(args: argparse.Namespace) -> None:
    from ptapt.stages import finetune

    _threads(args.threads)
    finetune.run(
        args.manifest,
        args.fold,
        _backbone(args.backbone),
        args.method,
        args.seed,
        stage_config("finetune", parse_json(args.config, "--config")),
        args.labels.split(","),
        args.out_dir,
        args.work_dir,
    )


def cmd_logmel(args: argparse.Namespace) -> None:
    from ptapt.stages import logmel

    _threads(args.threads)
    cfg = stage_config("logmel", parse_json(args.config, "--config"))
    logmel.run(args.manifest, args.fold, args.seed, cfg, args.labels.split(","), args.out_dir)


def _backbone(text: str):
    from ptapt.models.backbone import BackboneSpec

    return BackboneSpec.from_dict(parse_json(text, "--backbone"))


def cmd_summarize(args: argparse.Namespace) -> None:
    from ptapt.stages import summarize

    print(summarize.run(args.metrics, args.runs, args.summary, args.significance, args.backbone))


def cmd_tables(args: argparse.Namespace) -> None:
    from ptapt.stages import tables

    efficiency = dict(_named_list(text, "--data-efficiency") for text in args.data_efficiency)
    chosen = tables.Selection(
        args.dataset, args.experiments, efficiency, args.domain_shift, args.name
    )
    for path in tables.run(args.results, args.out, chosen):
        log.info("wrote %s", path)


def cmd_plots(args: argparse.Namespace) -> None:
    from ptapt import plots

    written = plots.draw(args.results, args.out)
    log.info("drew %d figure(s) into %s", len(written) // 2, args.out)


def cmd_join_tables(args: argparse.Namespace) -> None:
    from ptapt.stages import tables

    tables.join(args.tables, args.out)


def _named_list(text: str, option: str) -> tuple[str, list[str]]:
    name, _, members = text.partition("=")
    if not name or not members:
        raise PtaptError(f"{option} {text!r}: expected NAME=DATASET,DATASET,...")
    return name, members.split(",")


def cmd_domain_shift(args: argparse.Namespace) -> None:
    from ptapt.stages import domain_shift

    _threads(args.threads)
    fold_models = [domain_shift.FoldModel(*triple) for triple in args.fold_model]
    domain_shift.run(
        args.dataset,
        args.manifest,
        _backbone(args.initial),
        args.reference,
        args.folds,
        fold_models,
        stage_config("tapt", parse_json(args.config, "--config")),
        args.out,
    )


def cmd_predict(args: argparse.Namespace) -> None:
    from ptapt import inference

    _threads(args.threads)
    if (args.model is None) == (args.frames is None):
        raise PtaptError("give --model (utterance labels) or --frames (per-frame posteriors)")
    if args.frames:
        return _predict_frames(args, inference)
    model = inference.load_classifier(args.model, args.device)
    paths = inference.audio_inputs(args.audio)
    write = _row_writer(args.format, ["path", "prediction", *(f"p_{x}" for x in model.labels)])
    for start in range(0, len(paths), PREDICT_CHUNK):  # bounded memory, output as it comes
        for p in model.predict(paths[start : start + PREDICT_CHUNK], args.batch_size):
            row = {"path": p.source, "prediction": p.label}
            write(row | {f"p_{k}": v for k, v in p.probabilities.items()})


PREDICT_CHUNK = 64  # files read, scored and printed at a time


def _predict_frames(args: argparse.Namespace, inference) -> None:
    from ptapt.data.audio import load_audio

    posteriors = inference.FramePosteriors(args.frames, args.device)
    write = _row_writer(
        args.format, ["path", "start_s", "prediction", *(f"p_{x}" for x in posteriors.labels)]
    )
    for path in inference.audio_inputs(args.audio):
        for frame, row in enumerate(posteriors(load_audio(path))):
            cells = {"path": path, "start_s": f"{frame * posteriors.FRAME_SECONDS:.2f}"}
            cells["prediction"] = posteriors.labels[int(row.argmax())]
            write(cells | {f"p_{x}": float(v) for x, v in zip(posteriors.labels, row, strict=True)})


def _row_writer(form: str, columns: list[str]):
    """Print rows as TSV (header first, probabilities to 4 places) or JSON lines."""
    if form == "tsv":
        print("\t".join(columns), flush=True)

    def write(row: dict) -> None:
        if form == "jsonl":
            print(json.dumps(row), flush=True)
        else:
            cells = [f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c]) for c in columns]
            print("\t".join(cells), flush=True)

    return write


def cmd_check_leakage(args: argparse.Namespace) -> None:
    from ptapt.atomic import write_lines
    from ptapt.data import leakage

    report = leakage.check(args.results)
    write_lines(args.out, report)
    log.info("no leakage: %d training artifact(s) checked", len(report))


def _stage_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", required=True)
    p.add_argument("--fold", required=True, help="fold JSON file")
    p.add_argument("--out-dir", required=True)
    p.add_argument(
        "--config", default="{}", help="the stage's config section as JSON (schema defaults)"
    )
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)


def _label_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="manifest TSV to write")
    p.add_argument("--labels", help="classes kept, in order (default: the corpus's own)")
    p.add_argument("--label-map", default="{}", help='JSON {"label": "new label" or null to drop}')


def _corpus_commands(sub) -> None:
    p = sub.add_parser("synth-corpus", help="write a synthetic corpus in a corpus's layout")
    p.add_argument("--out", required=True, help="directory to create")
    p.add_argument("--preset", default="demo", choices=["demo", "tiny", "generic", "read-speech"])
    p.add_argument(
        "--layout",
        default="iemocap",
        choices=sorted(n for n, c in CORPORA.items() if n == "iemocap" or c.synthetic),
        help="whose file layout, naming and sample rate (generic, read-speech: iemocap only)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    p.set_defaults(func=cmd_synth_corpus)

    p = sub.add_parser("manifest", help="parse a corpus into a manifest TSV")
    p.add_argument("--corpus", required=True, choices=sorted(CORPORA))
    p.add_argument("--root", required=True, help="corpus root (table: the CSV/TSV file)")
    p.add_argument(
        "--no-expect-counts",
        dest="expect_counts",
        action="store_false",
        help="do not require the real release's utterance counts (synthetic or partial copies)",
    )
    _label_arguments(p)
    p.set_defaults(func=cmd_manifest)

    p = sub.add_parser("pool", help="one manifest from several (ids prefixed by their name)")
    p.add_argument("--manifests", nargs="+", required=True)
    p.add_argument("--names", nargs="+", required=True, help="one name per manifest")
    _label_arguments(p)
    p.set_defaults(func=cmd_pool)

    p = sub.add_parser("folds", help="write cross-validation fold files")
    p.add_argument("--manifest", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--split", default="{}", help="the dataset's split section as JSON")
    p.add_argument("--fold", type=int, action="append", help="write only this fold (repeatable)")
    p.set_defaults(func=cmd_folds)


def _training_commands(sub) -> None:
    p = sub.add_parser("stage1", help="train the frame-level wav2vec 1.0 emotion model on a fold")
    _stage_arguments(p)
    p.add_argument("--work-dir", required=True, help="resumable checkpoints go here")
    p.add_argument("--labels", required=True, help="class order, comma separated")
    p.add_argument(
        "--backbone", required=True, help="JSON: the wav2vec 2.0 backbone whose frames to align to"
    )
    p.set_defaults(func=cmd_stage1)

    p = sub.add_parser("stage2", help="frame features + k-means pseudo-labels of a fold")
    _stage_arguments(p)
    p.add_argument("--stage1", required=True, help="stage-1 output directory")
    p.set_defaults(func=cmd_stage2)

    _stage3_command(sub)
    _pretrain_backbone_command(sub)

    p = sub.add_parser("finetune", help="fine-tune and test the utterance classifier on a fold")
    _stage_arguments(p)
    p.add_argument("--work-dir", required=True, help="resumable checkpoints go here")
    p.add_argument("--backbone", required=True, help="JSON: the model to fine-tune")
    p.add_argument(
        "--method", required=True, choices=methods.fine_tuned(), help="name recorded with the run"
    )
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--labels", required=True, help="class order, comma separated")
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser("logmel", help="the log-mel + logistic regression reference on a fold")
    _stage_arguments(p)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--labels", required=True, help="class order, comma separated")
    p.set_defaults(func=cmd_logmel)


def _stage3_command(sub) -> None:
    p = sub.add_parser("stage3", help="continued pretraining of the backbone: TAPT or P-TAPT")
    p.add_argument("--method", required=True, choices=methods.names(methods.CONTINUED))
    p.add_argument("--manifest", help="with --fold: train on the fold's training utterances")
    p.add_argument("--fold", help="fold JSON file")
    p.add_argument("--audio-dir", help="instead: train on every .wav under this directory")
    p.add_argument("--backbone", required=True, help="JSON: the model to start from")
    p.add_argument("--pseudo-labels", help="stage 2's pseudo_labels.npz (P-TAPT)")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--work-dir", required=True, help="resumable checkpoints go here")
    p.add_argument(
        "--config", default="{}", help="the method's config section as JSON (schema defaults)"
    )
    p.add_argument(
        "--keep-pretraining-head",
        action="store_true",
        help="TAPT: also save the quantizer and projections",
    )
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.set_defaults(func=cmd_stage3)


def _pretrain_backbone_command(sub) -> None:
    p = sub.add_parser(
        "pretrain-backbone", help="pretrain a backbone from scratch on a directory of audio"
    )
    p.add_argument("--recipe", required=True, help='JSON file: {"preset", "pretraining"}')
    p.add_argument("--audio-dir", required=True, help="train on every audio file under it")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--work-dir", required=True, help="resumable checkpoints go here")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.set_defaults(func=cmd_pretrain_backbone)


def _result_commands(sub) -> None:
    p = sub.add_parser("summarize", help="runs.csv and the per-method summary table")
    p.add_argument("--runs", required=True, help="runs.csv to write")
    p.add_argument("--summary", required=True, help="summary CSV to write")
    p.add_argument("--significance", required=True, help="paired tests CSV to write")
    p.add_argument("metrics", nargs="+", help="fine-tuning metrics.json files")
    p.add_argument("--backbone", help="the runs' initial backbone, a column of runs.csv")
    p.set_defaults(func=cmd_summarize)

    p = sub.add_parser("tables", help="paper-shaped tables: those chosen, or of every result found")
    p.add_argument("--results", default="results", help="the results folder")
    p.add_argument("--out", default="results/tables", help="folder for the .md and .csv tables")
    p.add_argument("--dataset", nargs="*", default=[], help="by-fold and methods tables of these")
    p.add_argument("--experiments", nargs="*", default=[], help="experiment tables of these")
    p.add_argument(
        "--data-efficiency",
        nargs="*",
        default=[],
        metavar="NAME=D1,D2",
        help="a data-efficiency table over these datasets",
    )
    p.add_argument(
        "--domain-shift", nargs="*", default=[], help="the domain-shift table of these datasets"
    )
    p.add_argument("--name", default="all", help="the domain-shift table's: domain_shift_NAME")
    p.set_defaults(func=cmd_tables)

    p = sub.add_parser("plots", help="figures (PNG + CSV) of a dataset's or experiment's runs")
    p.add_argument("--results", required=True, help="results/{dataset}[/{experiment}] folder")
    p.add_argument("--out", required=True, help="folder for the figures, one subfolder per kind")
    p.set_defaults(func=cmd_plots)

    p = sub.add_parser("join-tables", help="markdown tables joined into one file")
    p.add_argument("--out", required=True)
    p.add_argument("tables", nargs="+", help=".md tables in the order wanted")
    p.set_defaults(func=cmd_join_tables)

    p = sub.add_parser("domain-shift", help="wav2vec 2.0 pretraining loss on each audio set")
    p.add_argument("--dataset", required=True, help="the dataset's name, a column of the CSV")
    p.add_argument("--manifest", required=True)
    p.add_argument("--initial", required=True, help="JSON: the initial backbone")
    p.add_argument("--reference", required=True, help="directory of reference read speech")
    p.add_argument("--folds", nargs="*", default=[], help="fold JSON files: their test audio")
    p.add_argument(
        "--fold-model",
        nargs=3,
        action="append",
        default=[],
        metavar=("FOLD_JSON", "METHOD", "DIR"),
        help="a stage-3 backbone scored on its fold's test audio",
    )
    p.add_argument("--config", default="{}", help="the tapt section as JSON: masks, crop, seed")
    p.add_argument("--out", required=True, help="CSV to write")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.set_defaults(func=cmd_domain_shift)

    p = sub.add_parser("predict", help="emotion of audio files: a label and every probability")
    p.add_argument("--model", help="a stage-4 model/ directory: one row per file")
    p.add_argument(
        "--frames", help="instead, a stage-1 directory: its emotion posterior every 20 ms"
    )
    p.add_argument("--format", choices=["tsv", "jsonl"], default="tsv")
    p.add_argument("--batch-size", type=int, default=8, help="files scored together")
    p.add_argument("--device", default="auto", help="auto (GPU if any), cpu or cuda[:N]")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument(
        "audio",
        nargs="+",
        help="audio files (any rate and channel count), directories, @list.txt, or - (stdin)",
    )
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("check-leakage", help="fail if a training artifact saw its fold's test ids")
    p.add_argument("--results", required=True, help="results/{dataset} directory")
    p.add_argument("--out", required=True, help="report to write, one line per artifact")
    p.set_defaults(func=cmd_check_leakage)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ptapt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _corpus_commands(sub)
    _training_commands(sub)
    _result_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        args.func(args)
    except PtaptError as err:
        print(f"ptapt {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a file the system refused (unwritable, disk full, vanished)
        if err.filename is None:
            raise
        print(f"ptapt {args.command}: error: {err.filename}: {err.strerror}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
