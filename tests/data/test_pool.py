"""The real-portrait pool, built from renders the test writes (Face Mesh finds faces in them)."""

import hashlib
import json

import numpy as np
import pytest

from portrait_edge.errors import PortraitEdgeError

pytest.importorskip("mediapipe")


def test_build_keeps_faces_and_rejects_the_rest_with_reasons(pool_dir):
    summary = json.loads((pool_dir / "pool.json").read_text())
    counts = summary["counts"]
    assert counts["seen"] == 10 and counts["kept"] == 5
    assert counts["rejected"] == {"exact_duplicate": 1, "near_duplicate": 1, "grayscale": 1, "no_face": 1,
                                  "unreadable": 1}
    assert summary["sources"][0]["licence"] == "test licence"
    assert not list(pool_dir.parent.glob(".pool.*"))


def test_manifest_checksums_match_the_stored_crops(pool_dir):
    from portrait_edge.data.pool import Pool

    pool = Pool(pool_dir)
    assert len(pool) == 5
    for i, record in enumerate(pool.records):
        for size in ("128", "256"):
            data = pool.crop_bytes(i, int(size))
            assert hashlib.sha256(data).hexdigest() == record["crops"][size]["sha256"]
        assert pool.image(i, 128).shape == (128, 128, 3)
        assert pool.landmarks(i).shape == (478, 3)
        # the split follows the identity's hash (40% val here); which of 5 photos land in val depends on the
        # rendered JPEG bytes, which differ between machines, so the rule is checked, not the outcome
        bucket = int(record["identity"][:8], 16) % 10_000
        assert record["split"] == ("val" if bucket < 40 * 100 else "train")


def test_landmarks_are_stored_by_row_beside_the_manifest(pool_dir):
    """landmarks.f32 row r belongs to manifest line r; the points land on the face inside the crop."""
    from portrait_edge.data.pool import Pool

    pool = Pool(pool_dir)
    assert (pool_dir / "landmarks.f32").stat().st_size == 5 * 478 * 3 * 4
    assert [r["landmark_row"] for r in pool.records] == list(range(5))
    for i in range(len(pool)):
        points = pool.landmarks(i)
        assert 40 < points[:, 0].mean() < 216 and 40 < points[:, 1].mean() < 216
        assert np.allclose(pool.landmarks(i, 128), points / 2)
    assert not np.allclose(pool.landmarks(0), pool.landmarks(1))


def test_identity_rules_keep_one_person_in_one_split():
    from portrait_edge.data.pool import Source, identity_of

    celeba = Source("f", "celeba", "l", identity="name-prefix")
    assert identity_of(celeba, "10000_028381.jpg", "a") == identity_of(celeba, "10000_115214.jpg", "b")
    assert identity_of(celeba, "10000_028381.jpg", "a") != identity_of(celeba, "10001_028381.jpg", "a")
    assert identity_of(celeba, "nounderscore.jpg", "abc") == "abc"
    folders = Source("f", "people", "l", identity="parent-folder")
    assert identity_of(folders, "ann/1.jpg", "a") == identity_of(folders, "ann/2.jpg", "b") != identity_of(folders, "bob/1.jpg", "a")
    assert identity_of(Source("f", "s", "l"), "x_1.jpg", "hash") == "hash"


def test_stale_staging_folders_of_killed_builds_are_removed(photo_folder, tmp_path):
    from portrait_edge.data.pool import Source, build_pool

    stale = tmp_path / ".p.pool-999999999-abc"  # the staging folder of a process that is gone
    (stale / "shards").mkdir(parents=True)
    build_pool([Source(str(photo_folder), "r", "l")], tmp_path / "p", workers=1, limit=1, show_progress=False)
    assert not stale.exists()


def test_a_pool_of_another_format_is_refused(tmp_path):
    from portrait_edge.data.pool import Pool

    (tmp_path / "pool.json").write_text(json.dumps({"format": "portrait-edge pool 1"}))
    with pytest.raises(PortraitEdgeError, match="rebuild"):
        Pool(tmp_path)


def test_framed_renders_come_back_at_the_engines_framing(pool_dir):
    """The renders were made at the engine's framing, so re-framing them keeps the face near its size."""
    from portrait_edge.data.pool import Pool

    pool = Pool(pool_dir)
    sides = [r["square"]["side"] for r in pool.records]
    assert all(0.7 * 256 < side < 1.3 * 256 for side in sides), sides  # engine: box side 0.44 +- 0.06


def test_build_refuses_an_existing_folder_and_a_missing_source(pool_dir, tmp_path):
    from portrait_edge.data.pool import Source, build_pool

    with pytest.raises(PortraitEdgeError, match="already exists"):
        build_pool([Source(str(tmp_path), "x", "y")], pool_dir)
    with pytest.raises(PortraitEdgeError, match="not a folder"):
        build_pool([Source(str(tmp_path / "missing"), "x", "y")], tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_task_restricted_sources_are_left_out_for_other_tasks(photo_folder, tmp_path):
    from portrait_edge.data.pool import Pool, Source, build_pool

    build_pool([Source(str(photo_folder), "shadow-only", "l", tasks=("shadow",))], tmp_path / "p", workers=1,
               show_progress=False)
    assert len(Pool(tmp_path / "p", task="shadow")) == 5
    assert len(Pool(tmp_path / "p", task="parsing")) == 0


def test_pseudo_labels_and_reader(pool_dir, tmp_path):
    from portrait_edge.data.pseudo_labels import IGNORE, LabelSet, label_pool
    from portrait_edge.data.readers import open_reader
    from portrait_edge.labels import CLASS_ID

    summary = label_pool(pool_dir, "portrait_edge/weights/parsing_teacher.safetensors", "t", show_progress=False)
    assert summary["photos"] == 5
    labels = LabelSet(pool_dir, "t")
    reader = open_reader("pool", pool_dir, split=None, labels="t", task="parsing", size=128)
    sample = reader[0]
    assert sample["image"].shape == (128, 128, 3) and sample["labels"].shape == (128, 128)
    full = labels.labels(reader.ids[0])
    present = set(np.unique(full).tolist())
    for name in ("skin", "nose", "u_lip", "l_lip", "background"):
        assert CLASS_ID[name] in present, name
    assert IGNORE in present
    with pytest.raises(PortraitEdgeError, match="already exists"):
        label_pool(pool_dir, "portrait_edge/weights/parsing_teacher.safetensors", "t", show_progress=False)


def test_reader_samples_carry_the_landmarks_and_feed_the_normals_task(pool_dir):
    from portrait_edge.data.pool import Pool
    from portrait_edge.data.readers import open_reader
    from portrait_edge.tasks import get_task

    reader = open_reader("pool", pool_dir, split=None, task="normals", size=128)
    sample = reader[0]
    assert sample["landmarks"].shape == (478, 3)
    np.testing.assert_allclose(sample["landmarks"], Pool(pool_dir).landmarks(reader.indices[0], 256) / 2, rtol=1e-6)
    batch = get_task("normals").batch_from_samples([reader[i] for i in range(2)], 128)
    assert batch.inputs.shape == (2, 5, 128, 128)
    assert float(batch.inputs[:, 3].amax()) > 0  # the face mesh regions are drawn


def test_cli_build_prints_a_summary(photo_folder, tmp_path, capsys):
    from portrait_edge.cli import main

    rc = main(["pool", "build", "--from", str(photo_folder), "--source-name", "r", "--licence", "l",
               "--out", str(tmp_path / "p"), "--workers", "1", "--no-progress"])
    assert rc == 0
    assert "kept 5 of 10 photos" in capsys.readouterr().out
    rc = main(["pool", "build", "--from", str(tmp_path / "nope"), "--out", str(tmp_path / "q")])
    assert rc == 2


def test_model_rules_give_complete_masks_and_maskedit_pairs(pool_dir):
    """`pool label --rules model`: the checkpoint's argmax wherever the crop is the photo; the reader's
    maskedit pairs swap half the masks with another photo's, and the maskedit task batches them."""
    from portrait_edge.data.pool import Pool
    from portrait_edge.data.pseudo_labels import IGNORE, LabelSet, label_pool
    from portrait_edge.data.readers import open_reader
    from portrait_edge.tasks import get_task

    summary = label_pool(pool_dir, "portrait_edge/weights/parsing_teacher.safetensors", "m", show_progress=False,
                         rules="model")
    assert summary["rules"] == "model" and summary["photos"] == 5
    labels, pool = LabelSet(pool_dir, "m"), Pool(pool_dir, task="maskedit")
    for i, record in enumerate(pool.records):
        full = labels.labels(record["key"])
        assert bool((full[pool.valid_mask(i)] != IGNORE).all()) and bool((full[~pool.valid_mask(i)] == IGNORE).all())
    with pytest.raises(PortraitEdgeError, match="label set"):
        open_reader("pool", pool_dir, split=None, task="maskedit", pairs="maskedit", size=64)
    reader = open_reader("pool", pool_dir, split=None, task="maskedit", labels="m", pairs="maskedit", size=64)
    samples = [reader[i] for i in range(len(reader))]
    swapped = [bool(s["swapped"]) for s in samples]
    assert any(swapped) and not all(swapped)  # 5 photos, each swapped with probability 1/2 by a fixed hash
    for s in samples:
        same = np.array_equal(s["target_labels"], s["labels"]) and np.array_equal(s["mask_photo"], s["image"])
        assert same != bool(s["swapped"])
    assert [bool(reader[i]["swapped"]) for i in range(len(reader))] == swapped  # deterministic
    batch = get_task("maskedit").batch_from_samples(samples, 64)
    assert batch.inputs.shape == (5, 41, 64, 64) and batch.extras["mask_photo"].shape == (5, 3, 64, 64)
    assert batch.extras["has_target"].tolist() == [0.0 if s else 1.0 for s in swapped]
