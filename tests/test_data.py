import hashlib
import os
import shutil
import tarfile

import numpy as np
import pytest

from bertmlm_lib import archive, data
from bertmlm_lib.errors import DataError, DownloadError

from conftest import NEGATIVE, POSITIVE, imdb_members, write_archive


def test_labels_are_pos_1_and_neg_0(tiny_archive):
    imdb = data.load_imdb(tiny_archive, progress=False)
    for split in (imdb.train, imdb.test):
        for text, label, file in zip(split.texts, split.labels, split.files):
            assert label == (1 if "/pos/" in file else 0)
            assert any(text.endswith(t) for t in (POSITIVE if label == 1 else NEGATIVE))
    assert set(imdb.unsup.labels.tolist()) == {-1}
    assert imdb.train.counts() == {"total": 12, "pos": 6, "neg": 6}
    assert imdb.unsup.counts() == {"total": 12, "unlabelled": 12}


def test_ratings_come_from_file_names(tiny_archive):
    imdb = data.load_imdb(tiny_archive, progress=False)
    for rating, file in zip(imdb.train.ratings, imdb.train.files):
        assert rating == int(file.rsplit("_", 1)[1].split(".")[0])
    assert (imdb.train.ratings[imdb.train.labels == 1] >= 7).all()


def test_pretraining_corpus_is_train_and_unsup_without_test(tiny_archive):
    imdb = data.load_imdb(tiny_archive, progress=False)
    corpus = imdb.pretraining_texts()
    assert not set(corpus) & set(imdb.test.texts)  # no test review, not even the copy placed in unsup
    assert len(corpus) == len(imdb.train) + len(imdb.unsup) - 1
    assert set(imdb.train.texts) <= set(corpus)


def test_validation_is_stratified_disjoint_and_reproducible(tiny_archive):
    imdb = data.load_imdb(tiny_archive, progress=False)
    rest, validation = data.split_validation(imdb.train, 0.34, seed=5)
    assert validation.counts() == {"total": 4, "pos": 2, "neg": 2}
    assert rest.counts() == {"total": 8, "pos": 4, "neg": 4}
    assert not set(rest.files) & set(validation.files)
    assert set(rest.files) | set(validation.files) == set(imdb.train.files)
    again = data.split_validation(imdb.train, 0.34, seed=5)[1]
    assert again.files == validation.files
    assert not set(validation.files) & set(imdb.test.files)


def test_balanced_subsets_are_deterministic(tiny_archive):
    a = data.load_imdb(tiny_archive, train_reviews=4, test_reviews=5, unsup_reviews=3, seed=1, progress=False)
    b = data.load_imdb(tiny_archive, train_reviews=4, test_reviews=5, unsup_reviews=3, seed=1, progress=False)
    c = data.load_imdb(tiny_archive, train_reviews=4, test_reviews=5, unsup_reviews=3, seed=2, progress=False)
    assert a.train.files == b.train.files and a.unsup.files == b.unsup.files
    assert a.train.counts() == {"total": 4, "pos": 2, "neg": 2}
    assert sorted(a.test.counts().values()) == [2, 3, 5]
    assert len(a.unsup) == 3
    assert (a.train.files, a.test.files) != (c.train.files, c.test.files)


def test_sizes_come_from_the_config(tiny_archive):
    from bertmlm_lib import config

    cfg = config.load("smoke", train_reviews=6, test_reviews=4, unsup_reviews=2)
    imdb = data.load_imdb(tiny_archive, cfg=cfg, progress=False)
    assert (len(imdb.train), len(imdb.test), len(imdb.unsup)) == (6, 4, 2)


def test_bad_bytes_are_replaced_and_counted(tiny_archive):
    imdb = data.load_imdb(tiny_archive, progress=False)
    assert imdb.unsup.undecodable == 1
    damaged = [t for t in imdb.unsup.texts if t.startswith("Caf")]
    assert damaged == ["Caf\ufffd scenes, a film with charm."]
    assert data.describe(imdb)["undecodable_reviews"] == {"train": 0, "test": 0, "unsup": 1}


def test_extraction_is_cached_and_idempotent(tiny_archive, tmp_path):
    first = archive.prepare_dataset(tiny_archive, progress=False)
    marker = first.parent / archive._COMPLETE_MARKER
    stamp = marker.stat().st_mtime_ns
    second = archive.prepare_dataset(tiny_archive, progress=False)
    assert first == second and marker.stat().st_mtime_ns == stamp
    assert first.is_relative_to(tmp_path / "cache" / "data")
    assert not list((tmp_path / "cache" / "data").glob(".extract-*"))


def test_half_extracted_folder_is_redone(tiny_archive):
    root = archive.prepare_dataset(tiny_archive, progress=False)
    (root.parent / archive._COMPLETE_MARKER).unlink()  # as if killed before the end
    for review in (root / "train" / "pos").iterdir():
        review.unlink()
    again = archive.prepare_dataset(tiny_archive, progress=False)
    assert again == root and len(list((root / "train" / "pos").iterdir())) == 6


def test_leftover_temporary_extraction_of_a_dead_process_is_cleaned(tiny_archive, tmp_path):
    cache = tmp_path / "cache" / "data"
    leftover = cache / ".extract-999999999-abc"
    leftover.mkdir(parents=True)
    (leftover / "junk").write_text("half")
    archive.prepare_dataset(tiny_archive, progress=False)
    assert not leftover.exists()


@pytest.mark.parametrize("name, kind, extra", [
    ("../escape.txt", tarfile.REGTYPE, {}),
    ("/tmp/absolute.txt", tarfile.REGTYPE, {}),
    ("aclImdb/link", tarfile.SYMTYPE, {"linkname": "../../../outside"}),
])
def test_unsafe_members_are_refused_and_nothing_is_written(tmp_path, name, kind, extra):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = 3 if kind == tarfile.REGTYPE else 0
    for key, value in extra.items():
        setattr(info, key, value)
    tarball = write_archive(tmp_path / "evil.tar.gz", imdb_members(), extra=[info])
    with pytest.raises(DataError, match="unsafe member .*refused, nothing was extracted"):
        archive.prepare_dataset(tarball, progress=False)
    cache = tmp_path / "cache" / "data"
    assert [p.name for p in cache.iterdir()] == [] if cache.exists() else True
    assert not (tmp_path / "escape.txt").exists() and not os.path.exists("/tmp/absolute.txt")


def test_truncated_archive_is_refused_and_leaves_nothing(tiny_archive, tmp_path):
    payload = tiny_archive.read_bytes()
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(DataError, match="truncated or damaged"):
        archive.prepare_dataset(broken, progress=False)
    assert not [p for p in (tmp_path / "cache" / "data").iterdir() if p.name.startswith(("aclImdb", ".extract"))]


def test_not_an_archive(tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("just some notes")
    with pytest.raises(DataError, match="not a readable tar archive"):
        archive.prepare_dataset(junk, progress=False)


def test_wrong_layout_archive_names_what_is_missing(tmp_path):
    members = {k: v for k, v in imdb_members().items() if "/unsup/" not in k}
    tarball = write_archive(tmp_path / "partial.tar.gz", members)
    with pytest.raises(DataError, match="not the IMDB archive: it has no aclImdb/train/unsup"):
        archive.prepare_dataset(tarball, progress=False)


def test_extracted_folder_is_accepted_directly_or_by_parent(tiny_folder):
    assert archive.prepare_dataset(tiny_folder, progress=False) == tiny_folder
    assert archive.prepare_dataset(tiny_folder.parent, progress=False) == tiny_folder


def test_empty_folder_and_missing_path(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not an IMDB \\(aclImdb\\) folder: it lacks train/pos"):
        archive.prepare_dataset(tmp_path / "empty", progress=False)
    with pytest.raises(DataError, match="does not exist"):
        archive.prepare_dataset(tmp_path / "nowhere.tar.gz", progress=False)


def test_environment_variable_is_the_fallback(tiny_archive, monkeypatch):
    monkeypatch.setenv("BERTMLM_DATA", str(tiny_archive))
    assert data.load_imdb(progress=False).train.counts()["total"] == 12
    monkeypatch.setenv("BERTMLM_DATA", "/no/such/file.tar.gz")
    with pytest.raises(DataError, match="BERTMLM_DATA points to"):
        archive.prepare_dataset(progress=False)


def test_download_checks_the_hash_and_caches(tiny_archive, tmp_path):
    url = tiny_archive.as_uri()
    digest = hashlib.sha256(tiny_archive.read_bytes()).hexdigest()
    path = archive.download_archive(url, sha256=digest, progress=False)
    assert path.read_bytes() == tiny_archive.read_bytes()
    tiny_archive.unlink()  # a second call must not need the source any more
    assert archive.download_archive(url, sha256=digest, progress=False) == path


def test_download_with_a_wrong_hash_removes_the_partial_file(tiny_archive, tmp_path):
    with pytest.raises(DownloadError, match="not the published .*partial file was removed"):
        archive.download_archive(tiny_archive.as_uri(), sha256="0" * 64, progress=False)
    downloads = tmp_path / "cache" / "data" / "downloads"
    assert list(downloads.iterdir()) == []


def test_download_failure_says_how_to_work_offline(tmp_path):
    with pytest.raises(DownloadError, match="--data PATH"):
        archive.download_archive((tmp_path / "missing.tar.gz").as_uri(), progress=False)


def test_official_archive_constants():
    assert archive.OFFICIAL_URL.endswith("/aclImdb_v1.tar.gz") and archive.OFFICIAL_URL.startswith("https://")
    assert archive.OFFICIAL_SHA256 == "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
    assert archive.OFFICIAL_SIZE == 84_125_825


def test_describe_reports_counts_lengths_and_duplicates(tiny_archive):
    report = data.describe(data.load_imdb(tiny_archive, progress=False))
    assert report["splits"]["train"] == {"total": 12, "pos": 6, "neg": 6}
    assert report["duplicates"]["test_and_unsup"] == 1
    assert report["duplicates"]["train_and_test"] == 0
    assert report["lengths_in_words"]["train"]["max"] >= report["lengths_in_words"]["train"]["median"] > 0


def test_unreadable_cache_location_is_a_clear_error(tiny_archive, tmp_path, monkeypatch):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    monkeypatch.setenv("BERTMLM_CACHE", str(blocker / "sub"))
    with pytest.raises(DataError, match="cannot write to the cache folder .*BERTMLM_CACHE"):
        archive.prepare_dataset(tiny_archive, progress=False)


def test_balanced_indices_prefix_stays_balanced():
    labels = np.array([0] * 50 + [1] * 50)
    picked = data.balanced_indices(labels, 20, seed=0)
    assert len(set(picked.tolist())) == 20 and labels[picked].sum() == 10
    assert abs(labels[data.balanced_indices(labels, None, seed=0)][:40].mean() - 0.5) < 0.2


def test_preview_shows_label_rating_and_cuts_long_text(tiny_archive):
    imdb = data.load_imdb(tiny_archive, progress=False)
    text = data.preview(imdb.train, n=2, width=20)
    blocks = text.split("\n\n")
    assert len(blocks) == 2
    assert blocks[0].startswith(("[pos, ", "[neg, ")) and "/10]" in blocks[0]
    assert all(len(block.splitlines()[1]) <= 20 for block in blocks)


def _same(a, b):
    return (a.texts == b.texts and a.files == b.files and np.array_equal(a.labels, b.labels)
            and np.array_equal(a.ratings, b.ratings) and np.array_equal(a.had_bad_bytes, b.had_bad_bytes))


def test_a_split_read_whole_is_packed_and_read_back_identically(tiny_archive):
    root = archive.prepare_dataset(tiny_archive, progress=False)
    packed = root.parent / "reviews-unsup.json"
    subset = data.read_split(root, "unsup", n=3, seed=5)  # a subset does not pack the split
    assert not packed.exists()
    from_files = data.read_split(root, "unsup", seed=5)
    assert packed.is_file()
    os.rename(root / "train" / "unsup", root / "train" / "moved")  # from now on only the packed copy can answer
    assert _same(data.read_split(root, "unsup", seed=5), from_files)  # order, labels, bad-byte flags: all kept
    assert _same(data.read_split(root, "unsup", n=3, seed=5), subset)
    assert data.read_split(root, "unsup", seed=5).undecodable == 1


def test_a_damaged_packed_copy_is_read_from_the_files_again(tiny_archive):
    root = archive.prepare_dataset(tiny_archive, progress=False)
    first = data.read_split(root, "test", seed=2)
    (root.parent / "reviews-test.json").write_text('{"texts": ["cut short')
    assert _same(data.read_split(root, "test", seed=2), first)
    assert (root.parent / "reviews-test.json").is_file()  # packed again, whole


def test_a_folder_the_user_gave_is_never_packed(tiny_folder):
    root = archive.find_imdb_root(tiny_folder)
    data.read_split(root, "train")
    assert not list(tiny_folder.rglob("reviews-*.json"))


def test_only_a_finished_extraction_counts_as_one(tiny_archive, tiny_folder, tmp_path):
    """`extraction_folder` decides where packed copies may go and what identifies the data: the cache
    folder of a finished extraction, never a user's folder, even one named like it."""
    root = archive.prepare_dataset(tiny_archive, progress=False)
    key = hashlib.sha256(tiny_archive.read_bytes()).hexdigest()[:16]
    assert archive.extraction_folder(root) == root.parent and root.parent.name == f"aclImdb-{key}"
    assert archive.extraction_folder(archive.find_imdb_root(tiny_folder)) is None
    look_alike = tmp_path / "aclImdb-0123456789abcdef"
    tiny_folder.rename(look_alike)
    assert archive.extraction_folder(archive.find_imdb_root(look_alike)) is None
    (root.parent / archive._COMPLETE_MARKER).unlink()  # half-extracted
    assert archive.extraction_folder(root) is None


def test_a_split_asked_for_zero_reviews_is_not_read_at_all(tiny_archive):
    root = archive.prepare_dataset(tiny_archive, progress=False)
    data.read_split(root, "unsup")  # packs it
    (root.parent / "reviews-unsup.json").write_text("not json")  # a read would notice and drop this file
    shutil.rmtree(root / "train" / "unsup")
    imdb = data.load_imdb(tiny_archive, unsup_reviews=0, progress=False)
    assert len(imdb.unsup) == 0 and imdb.unsup.counts() == {"total": 0} and len(imdb.train) > 0
    assert (root.parent / "reviews-unsup.json").read_text() == "not json"
