"""Every corpus of the registry on a synthetic tree in its exact layout, with its quirks."""

import logging

import numpy as np
import pytest
import soundfile as sf

from ptapt.cli import main
from ptapt.corpora import CANONICAL, CORPORA
from ptapt.data.manifest import from_corpus, read_manifest
from ptapt.data.synthetic_corpus import write_corpus
from ptapt.errors import PtaptError

LAYOUTS = ["savee", "ravdess", "cremad", "tess", "emodb"]


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("layouts")
    return {name: write_corpus(root / name, "tiny", 0, 2, layout=name) for name in LAYOUTS}


@pytest.mark.parametrize("name", LAYOUTS)
def test_the_parser_finds_exactly_the_planned_files(corpora, name, caplog):
    """Ids, labels, speakers and native rates of every speech file; RAVDESS's song files and
    CREMA-D's empty file are not rows (the empty one a counted skip)."""
    corpus = CORPORA[name]
    caplog.set_level(logging.WARNING)
    rows = from_corpus(corpus, corpora[name])
    planned = [f for f in corpus.synthetic("tiny") if not (f.empty or f.not_a_row)]
    by_path = {f.path: f for f in planned}
    assert sorted(str(r.path) for r in rows) == sorted(str(corpora[name] / p) for p in by_path)
    for row in rows:
        plan = by_path[str(row.path)[len(str(corpora[name])) + 1 :]]
        assert (row.label, row.speaker) == (plan.label, plan.speaker)
        assert row.sample_rate == corpus.sample_rate and row.label in corpus.labels
    assert set(corpus.labels) <= set(CANONICAL) and len({r.utt_id for r in rows}) == len(rows)
    skipped = [r.getMessage().split(", e.g.")[0] for r in caplog.records]
    assert skipped == (["skipped 1 empty audio file(s)"] if name == "cremad" else [])


def test_synthetic_layouts_use_each_release_s_naming(corpora):
    assert (corpora["savee"] / "AudioData/DC/sa01.wav").is_file()
    assert (corpora["ravdess"] / "Actor_01/03-01-02-02-01-01-01.wav").is_file()
    assert (corpora["cremad"] / "AudioWAV/1002_IEO_FEA_MD.wav").is_file()
    assert (corpora["tess"] / "YAF_pleasant_surprised/YAF_back_ps.wav").is_file()
    assert (corpora["emodb"] / "wav/08a01La.wav").is_file()
    info = sf.info(str(corpora["tess"] / "OAF_Fear/OAF_bar_fear.wav"))
    assert (info.samplerate, info.channels) == (24414, 2)


def _touch_wav(path, seconds=0.5, sr=16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(int(seconds * sr), np.int16), sr, subtype="PCM_16")


def test_savee_flattened_copy_gives_the_same_ids(tmp_path):
    for spk, code in (("DC", "sa01"), ("KL", "n30")):
        _touch_wav(tmp_path / "nested" / "AudioData" / spk / f"{code}.wav")
        _touch_wav(tmp_path / "flat" / "ALL" / f"{spk}_{code}.wav")
    _touch_wav(tmp_path / "nested" / "AudioData" / "DC" / "._sa01.wav")  # AppleDouble junk
    ids = [
        [(r.utt_id, r.label) for r in from_corpus(CORPORA["savee"], tmp_path / d)]
        for d in ("nested", "flat")
    ]
    assert ids[0] == ids[1] == [("DC_sa01", "sad"), ("KL_n30", "neu")]


def test_ravdess_keeps_only_audio_only_speech(tmp_path):
    actor = tmp_path / "Actor_07"
    for name in (
        "03-01-06-02-01-02-07.wav",
        "03-02-06-02-01-02-07.wav",
        "01-01-06-02-01-02-07.wav",
    ):
        _touch_wav(actor / name)
    (actor / "02-01-06-02-01-02-07.mp4").write_bytes(b"video")
    (rows,) = [from_corpus(CORPORA["ravdess"], tmp_path)]
    assert [(r.utt_id, r.label, r.speaker) for r in rows] == [
        ("03-01-06-02-01-02-07", "fea", "Actor_07")
    ]


def test_tess_reads_the_file_name_whatever_the_folder(tmp_path):
    _touch_wav(tmp_path / "OAF_Pleasant_surprise" / "OAF_Back_PS.wav")
    _touch_wav(tmp_path / "yaf_fear" / "YAF_youth_fear.wav")
    _touch_wav(tmp_path / "OAF_angry" / "notes.wav")
    rows = from_corpus(CORPORA["tess"], tmp_path)
    assert [(r.utt_id, r.label, r.speaker) for r in rows] == [
        ("OAF_back_ps", "sur", "OAF"),
        ("YAF_youth_fear", "fea", "YAF"),
    ]


def test_a_table_of_your_own(tmp_path):
    _touch_wav(tmp_path / "audio" / "a.wav")
    _touch_wav(tmp_path / "audio" / "b.wav")
    _touch_wav(tmp_path / "audio" / "c.wav")
    table = tmp_path / "corpus.csv"
    table.write_text(
        "path,label,speaker,group\naudio/a.wav,joy,s1,\naudio/b.wav,anger,s2,g2\naudio/c.wav,calm,s2,g2\n"
    )
    out = tmp_path / "manifest.tsv"
    args = ["manifest", "--corpus", "table", "--root", str(table), "--out", str(out)]
    label_map = '{"joy": "hap", "anger": "ang", "calm": null}'
    assert main([*args, "--labels", "hap,ang", "--label-map", label_map]) == 0
    rows = read_manifest(out)
    assert [(r.utt_id, r.label, r.speaker, r.group) for r in rows] == [
        ("audio/a", "hap", "s1", "s1"),
        ("audio/b", "ang", "s2", "g2"),
    ]
    assert main(args) == 2  # no native label set: --labels is required
    table.write_text("file,label,speaker\na.wav,joy,s1\n")
    with pytest.raises(PtaptError, match=r"corpus.csv: missing column\(s\) \['path'\]"):
        from_corpus(CORPORA["table"], table)
    table.write_text("path,label,speaker\naudio/a.wav,,s1\n")
    with pytest.raises(PtaptError, match=r"corpus.csv:2: empty label"):
        from_corpus(CORPORA["table"], table)


def test_pooled_manifests_prefix_ids_and_share_one_label_set(corpora, tmp_path):
    manifests = []
    for name in ("savee", "ravdess"):
        manifests.append(tmp_path / f"{name}.tsv")
        args = [
            "manifest",
            "--corpus",
            name,
            "--root",
            str(corpora[name]),
            "--out",
            str(manifests[-1]),
        ]
        assert main([*args, "--no-expect-counts"]) == 0
    out = tmp_path / "pool.tsv"
    labels = "neu,cal,hap,sad,ang,fea,dis,sur"
    args = ["pool", "--manifests", *map(str, manifests), "--names", "savee", "ravdess"]
    assert main([*args, "--out", str(out), "--labels", labels]) == 0
    rows = read_manifest(out)
    assert {r.utt_id.split("/")[0] for r in rows} == {"savee", "ravdess"}
    cal = {r.utt_id.split("/")[0] for r in rows if r.label == "cal"}
    assert cal == {"ravdess"}  # SAVEE has no calm class: simply absent there
    assert {r.speaker for r in rows} >= {"savee/DC", "ravdess/Actor_01"}
    assert len(rows) == sum(len(read_manifest(m)) for m in manifests)


@pytest.mark.parametrize(
    "name,per_speaker",
    [("savee", 6 * 15 + 30), ("ravdess", 4 + 7 * 8), ("tess", 7 * 200)],
)
def test_release_counts_agree_with_the_corpus_design(name, per_speaker):
    """The documented totals follow from each corpus's design: SAVEE 15 sentences per emotion
    and 30 neutral per speaker; RAVDESS 2 statements x 2 repetitions x 2 intensities (neutral
    only normal); TESS 200 words x 7 emotions per speaker."""
    expected = CORPORA[name].expected
    assert expected.total == sum(expected.per_label.values()) == per_speaker * expected.speakers


@pytest.mark.parametrize("name", ["iemocap", "cremad", "emodb"])
def test_release_counts_add_up(name):
    expected = CORPORA[name].expected
    assert expected.total == sum(expected.per_label.values())
    assert not expected.per_group or sum(expected.per_group.values()) == expected.total


def test_counts_are_checked_for_every_corpus(corpora, tmp_path, capsys):
    out = tmp_path / "m.tsv"
    assert (
        main(["manifest", "--corpus", "emodb", "--root", str(corpora["emodb"]), "--out", str(out)])
        == 2
    )
    assert (
        "does not match the emodb release (56 utterances instead of 535" in capsys.readouterr().err
    )


def test_the_schema_offers_exactly_the_registry_s_corpora():
    from ptapt.config import schema

    enum = schema()["$defs"]["dataset"]["properties"]["corpus"]["enum"]
    assert sorted(enum) == sorted([*CORPORA, "pool"])
