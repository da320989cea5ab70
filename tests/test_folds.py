import json
from collections import Counter
from dataclasses import replace

import pytest

from ptapt.cli import main
from ptapt.data.folds import keep_share, make_folds, read_fold
from ptapt.data.manifest import Utterance
from ptapt.errors import PtaptError


def rows(n_per_session: int = 20) -> list[Utterance]:
    labels = ["neu", "hap", "ang", "sad"]
    return [
        Utterance(
            f"Ses{s:02d}F_x_{sex}{i:03d}",
            "p.wav",
            labels[i % 4],
            f"Ses{s:02d}{sex}",
            f"Session{s}",
            1.0,
            16000,
            16000,
        )
        for s in range(1, 6)
        for sex in "FM"
        for i in range(n_per_session // 2)
    ]


def test_loso_folds_are_disjoint_and_cover_everything_once():
    data = rows()
    folds = make_folds(data, "loso-session")
    assert [f.fold for f in folds] == [1, 2, 3, 4, 5]
    all_ids = {u.utt_id for u in data}
    session = {u.utt_id: u.group for u in data}
    for f in folds:
        assert {session[u] for u in f.test} == {f"Session{f.fold}"} and f.speaker_independent
        assert set(f.train) | set(f.test) == all_ids and not set(f.train) & set(f.test)
        assert f.valid == [] and f.train == sorted(f.train) and f.test == sorted(f.test)
    assert Counter(u for f in folds for u in f.test) == Counter(all_ids)


def test_valid_split_is_a_stratified_deterministic_share_of_train():
    data = rows(40)
    first = make_folds(data, valid_share=0.25, seed=3)
    again = make_folds(data, valid_share=0.25, seed=3)
    other = make_folds(data, valid_share=0.25, seed=4)
    assert first == again
    assert first[0].valid != other[0].valid
    label = {u.utt_id: u.label for u in data}
    for f in first:
        assert not set(f.valid) & set(f.train) and not set(f.valid) & set(f.test)
        assert len(f.valid) == 40  # 25 % of the 160 training utterances
        assert Counter(label[u] for u in f.valid) == {"neu": 10, "hap": 10, "ang": 10, "sad": 10}


def test_loso_speaker_holds_out_one_speaker():
    folds = make_folds(rows(), "loso-speaker")
    assert len(folds) == 10
    assert all(len({u.split("_")[0][:5] + u[-4] for u in f.test}) == 1 for f in folds)


def test_bad_arguments_are_errors():
    with pytest.raises(PtaptError, match="unknown fold scheme"):
        make_folds(rows(), "random")
    with pytest.raises(PtaptError, match="valid share"):
        make_folds(rows(), valid_share=1.0)


def test_cli_writes_requested_fold_files(tiny_corpus, tmp_path):
    manifest = tmp_path / "manifest.tsv"
    assert (
        main(
            [
                "manifest",
                "--corpus",
                "iemocap",
                "--root",
                str(tiny_corpus),
                "--out",
                str(manifest),
                "--no-expect-counts",
            ]
        )
        == 0
    )
    out = tmp_path / "folds"
    assert main(["folds", "--manifest", str(manifest), "--out-dir", str(out), "--fold", "2"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["fold2.json"]
    fold = read_fold(out / "fold2.json")
    assert fold.held_out == "Session2" and all(u.startswith("Ses02") for u in fold.test)
    assert set(json.loads((out / "fold2.json").read_text())) >= {"train", "valid", "test"}
    assert main(["folds", "--manifest", str(manifest), "--out-dir", str(out), "--fold", "9"]) == 2


def test_speaker_kfold_keeps_speakers_apart_and_labels_balanced():
    data = rows(40)
    folds = make_folds(data, "speaker-kfold", k=5, seed=1)
    speaker = {u.utt_id: u.speaker for u in data}
    label = {u.utt_id: u.label for u in data}
    assert Counter(u for f in folds for u in f.test) == Counter(speaker.keys())
    for f in folds:
        assert f.speaker_independent
        assert not {speaker[u] for u in f.test} & {speaker[u] for u in f.train}
        assert f.held_out == "speakers " + ",".join(sorted({speaker[u] for u in f.test}))
        assert set(Counter(label[u] for u in f.test).values()) == {len(f.test) // 4}
    assert make_folds(data, "speaker-kfold", k=5, seed=1) == folds
    assert make_folds(data, "speaker-kfold", k=5, seed=2) != folds
    with pytest.raises(PtaptError, match="config split.k: 11 folds need at least 11 speakers"):
        make_folds(data, "speaker-kfold", k=11)


def _jsonl(path, records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_emobox_split_files_define_the_folds(tmp_path, caplog):
    """EmoBox's layout: fold_<n>/{train,test}.jsonl, keys `<dataset>-<utt id>`; a
    speaker-dependent split is marked as such."""
    data = rows(8)
    ids = sorted(u.utt_id for u in data)  # 40

    def record(u):
        return {"key": f"iemocap-{u}", "wav": f"x/{u}.wav", "emo": "neu", "length": 1.0}

    _jsonl(tmp_path / "fold_1/train.jsonl", [record(u) for u in ids[:30]])
    _jsonl(tmp_path / "fold_1/test.jsonl", [record(u) for u in ids[30:]] + [record("gone")])
    _jsonl(tmp_path / "fold_2/train.jsonl", [{"key": "x", "wav": f"a/{u}.wav"} for u in ids[10:]])
    _jsonl(tmp_path / "fold_2/test.jsonl", [{"key": "x", "wav": f"a/{u}.wav"} for u in ids[:10]])
    folds = make_folds(data, "splits-dir", splits_dir=str(tmp_path))
    assert [f.held_out for f in folds] == ["fold_1", "fold_2"]
    assert folds[0].train == sorted(ids[:30]) and folds[0].test == sorted(ids[30:])
    assert folds[1].test == sorted(ids[:10]) and not folds[1].speaker_independent
    assert "1 record(s) match no manifest utterance, e.g. iemocap-gone" in caplog.text
    with pytest.raises(PtaptError, match="config split.dir"):
        make_folds(data, "splits-dir", splits_dir=str(tmp_path / "absent"))


def test_train_shares_are_nested_seeded_subsets():
    fold = make_folds(rows(40), valid_share=0.1, seed=2)[4]
    halves = [keep_share(fold, share) for share in (1.0, 0.5, 0.25, 0.125)]
    kept = [set(f.train) for f in halves]
    assert kept[0] == set(fold.train) and kept[0] > kept[1] > kept[2] > kept[3]
    assert [len(k) for k in kept] == [144, 72, 36, 18]  # 160 training ids, 16 to validation
    assert all(f.valid == fold.valid and f.test == fold.test for f in halves)
    assert halves[2].unlabelled_train() == fold.train  # TAPT keeps all the audio by default
    assert keep_share(fold, 0.25, "all").unlabelled_train() == halves[2].train
    assert keep_share(fold, 0.25) == halves[2]  # the same seed, the same subset
    assert keep_share(replace(fold, seed=3), 0.25).train != halves[2].train
