"""Tests for audiorep.store: the Parquet feature store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audiorep.datasets import Instance, load_dataset
from audiorep.errors import ParameterError, StoreError
from audiorep.store import (
    COLUMNS,
    FeatureTable,
    StoreWriter,
    check_params,
    read_store,
    read_store_metadata,
    write_store,
)

N_FEATURES = 6
LABELS = {0: "Dog bark", 1: "Rain", 2: "Sea waves"}
PARAMS = {"kind": "autocorrelogram", "sr": 16000, "frame_length": 1024, "hop_length": 512, "max_lag": 6,
          "version": "0.1.0"}


def _instances(rng, n=12, n_folds=4, varying=True):
    out = []
    for i in range(n):
        fold = i % n_folds + 1
        label = i % 3
        frames = rng.integers(3, 9) if varying else 5
        out.append(
            Instance(
                filename=f"{label + 1:03d} - {LABELS[label]}/{fold}-{1000 + i}-A.ogg",
                chunk_nr=i % 2,
                label_nominal=LABELS[label],
                label_numeric=label,
                cv_folds=tuple(int(k + 1 == fold) for k in range(n_folds)),
                partition=("train", "devel", "test", None)[i % 4],
                fold=fold,
                path=Path("/data") / f"{i}.ogg",
                features=rng.standard_normal((frames, N_FEATURES)).astype(np.float32),
            )
        )
    return out


@pytest.fixture
def instances(rng):
    return _instances(rng)


@pytest.fixture
def store(tmp_path, instances):
    path = tmp_path / "features.parquet"
    write_store(path, instances, label_map=LABELS, params=PARAMS, rows_per_group=5)
    return path


def _leftovers(directory):
    return sorted(p.name for p in Path(directory).iterdir())


# ---------------------------------------------------------------- round trip


def test_round_trip_is_bit_exact(store, instances):
    table = read_store(store)
    assert isinstance(table, FeatureTable) and len(table) == len(instances)
    assert table.label_map == LABELS and table.params == PARAMS
    for i, inst in enumerate(instances):
        assert table.features[i].dtype == np.float32
        np.testing.assert_array_equal(table.features[i].view(np.uint32), inst.features.view(np.uint32))
        assert table.filename[i] == inst.filename
        assert table.chunk_nr[i] == inst.chunk_nr
        assert table.label_nominal[i] == inst.label_nominal
        assert table.label_numeric[i] == inst.label_numeric
        assert tuple(table.cv_folds[i]) == inst.cv_folds
        assert table.partition[i] == inst.partition
        assert table.fold[i] == inst.fold
        assert tuple(table.feature_shape[i]) == inst.features.shape
    assert table.cv_folds.shape == (12, 4) and table.cv_folds.dtype == np.int8
    assert table.label_numeric.dtype == np.int64


def test_schema_and_metadata_on_disk(store):
    schema = pq.read_schema(store)
    assert schema.names == list(COLUMNS)
    assert schema.field("features").type == pa.list_(pa.list_(pa.float32(), N_FEATURES))
    assert schema.field("cv_folds").type == pa.list_(pa.int8())
    assert schema.field("feature_shape").type == pa.list_(pa.int32())
    document = json.loads(schema.metadata[b"audiorep"])
    assert document["label_map"] == {"0": "Dog bark", "1": "Rain", "2": "Sea waves"}
    assert document["params"] == PARAMS
    assert pq.ParquetFile(store).metadata.num_row_groups == 3  # 12 rows, 5 per group


def test_float64_features_are_stored_as_float32(tmp_path, instances):
    doubles = [inst.features.astype(np.float64) + 1e-12 for inst in instances]
    path = tmp_path / "f64.parquet"
    write_store(path, instances, features=doubles, label_map=LABELS, params={})
    table = read_store(path)
    for got, want in zip(table.features, doubles):
        np.testing.assert_array_equal(got, want.astype(np.float32))


def test_columns_dict_input(tmp_path, rng):
    path = tmp_path / "cols.parquet"
    features = [rng.standard_normal((4, 3)), rng.standard_normal((7, 3))]
    columns = dict(filename=["a.wav", "b.wav"], label_nominal=["Rain", "Dog bark"], label_numeric=[1, 0],
                   cv_folds=[(1, 0), (0, 1)], fold=[1, 2])
    write_store(path, columns, features=features, label_map=LABELS, params={"kind": "mel", "n_mels": 3})
    table = read_store(path)
    assert table.chunk_nr.tolist() == [0, 0] and table.partition.tolist() == [None, None]
    assert [f.shape for f in table.features] == [(4, 3), (7, 3)]


def test_dataset_input(tmp_path, rng):
    import soundfile as sf

    root = tmp_path / "data"
    for folder, name in [("001 - Dog bark", "1-1-A.wav"), ("002 - Rain", "2-2-A.wav")]:
        (root / folder).mkdir(parents=True)
        sf.write(root / folder / name, np.zeros(10), 8000)
    dataset = load_dataset(root)
    for inst in dataset:
        inst.features = rng.standard_normal((2, 4)).astype(np.float32)
    path = write_store(tmp_path / "ds.parquet", dataset, label_map=dataset.label_map, params={})
    table = read_store(path)
    assert table.filename.tolist() == ["001 - Dog bark/1-1-A.wav", "002 - Rain/2-2-A.wav"]
    assert table.cv_folds.tolist() == [[1, 0], [0, 1]]


# ---------------------------------------------------------------- projection and filters


def test_column_projection_skips_features(store, monkeypatch):
    seen = {}
    real = pq.read_table

    def spy(*args, **kwargs):
        seen["columns"] = kwargs.get("columns")
        return real(*args, **kwargs)

    monkeypatch.setattr(pq, "read_table", spy)
    table = read_store(store, columns=["label_numeric", "filename"])
    assert "features" not in seen["columns"]
    assert table.features is None and table.cv_folds is None
    assert table.label_numeric.tolist() == [i % 3 for i in range(12)]
    with pytest.raises(StoreError, match="'features' was not read"):
        table.stacked()


def test_fold_filter(store, instances):
    table = read_store(store, folds=[1, 3])
    wanted = [inst for inst in instances if inst.fold in (1, 3)]
    assert table.fold.tolist() == [inst.fold for inst in wanted]
    for got, inst in zip(table.features, wanted):
        np.testing.assert_array_equal(got, inst.features)
    assert len(read_store(store, folds=[9])) == 0


def test_fold_filter_without_reading_the_fold_column(store):
    table = read_store(store, columns=["filename"], folds=[2])
    assert table.fold is None
    assert all(name.split("/")[1].startswith("2-") for name in table.filename)


def test_cross_validation_filters_and_split(store, instances):
    val = read_store(store, validation=0)
    train = read_store(store, training=0, columns=["filename", "features"])
    assert set(val.fold.tolist()) == {1}
    assert train.cv_folds is None
    assert len(val) + len(train) == len(instances)
    assert set(val.filename) | set(train.filename) == {inst.filename for inst in instances}
    full = read_store(store)
    for k, (tr, va) in enumerate(full.folds()):
        a, b = full.split(k)
        assert a.filename.tolist() == full.filename[tr].tolist()
        assert b.filename.tolist() == full.filename[va].tolist()
        assert np.intersect1d(tr, va).size == 0 and len(tr) + len(va) == len(full)


def test_stacked(store, instances, tmp_path, rng):
    table = read_store(store)
    with pytest.raises(ParameterError, match="different frame counts"):
        table.stacked()
    cube = table.stacked(length=6)
    assert cube.shape == (12, 6, N_FEATURES) and cube.dtype == np.float32
    for i, inst in enumerate(instances):
        n = min(6, inst.features.shape[0])
        np.testing.assert_array_equal(cube[i, :n], inst.features[:n])
        np.testing.assert_array_equal(cube[i, n:], 0)
    equal = _instances(rng, varying=False)
    path = write_store(tmp_path / "equal.parquet", equal, label_map=LABELS, params={})
    np.testing.assert_array_equal(read_store(path).stacked(), np.stack([i.features for i in equal]))


def test_torch_dataset(store, instances):
    torch = pytest.importorskip("torch")
    table = read_store(store)
    ds = table.torch_dataset()
    assert isinstance(ds, torch.utils.data.Dataset) and len(ds) == 12
    x, y = ds[3]
    assert x.dtype == torch.float32 and tuple(x.shape) == instances[3].features.shape
    assert y.dtype == torch.int64 and int(y) == instances[3].label_numeric
    np.testing.assert_array_equal(x.numpy(), instances[3].features)
    fixed = table.torch_dataset(length=4)
    loader = torch.utils.data.DataLoader(fixed, batch_size=5)
    xb, yb = next(iter(loader))
    assert tuple(xb.shape) == (5, 4, N_FEATURES) and tuple(yb.shape) == (5,)


def test_torch_dataset_pickles_by_name(store, monkeypatch):
    """A fresh worker process finds the class by name, before anything has built it."""
    pytest.importorskip("torch")
    import pickle

    import audiorep.store

    data = pickle.dumps(read_store(store).torch_dataset())
    monkeypatch.delitem(audiorep.store.__dict__, "FeatureDataset")
    copy = pickle.loads(data)
    assert len(copy) == 12 and type(copy).__name__ == "FeatureDataset"


# ---------------------------------------------------------------- atomic writes


def test_failed_write_leaves_nothing(tmp_path, instances):
    path = tmp_path / "bad.parquet"
    features = [inst.features for inst in instances]
    features[9] = np.ones((3, N_FEATURES + 1), dtype=np.float32)  # after the first row group is on disk
    with pytest.raises(ParameterError, match=r"row 9 .* 7 values per frame, earlier rows 6"):
        write_store(path, instances, features=features, label_map=LABELS, params={}, rows_per_group=4)
    assert _leftovers(tmp_path) == []


def test_failed_write_keeps_the_old_store(store, instances):
    before = store.read_bytes()
    broken = [*instances[:-1], None]
    with pytest.raises(ParameterError, match="no features"):
        write_store(store, instances, features=broken, label_map=LABELS, params={})
    assert store.read_bytes() == before
    assert _leftovers(store.parent) == [store.name]


@pytest.mark.parametrize("exception", [KeyboardInterrupt, RuntimeError])
def test_writer_cancelled_leaves_no_output(tmp_path, instances, exception):
    path = tmp_path / "partial.parquet"
    with pytest.raises(exception), StoreWriter(path, label_map=LABELS, params=PARAMS, rows_per_group=2) as writer:
        for inst in instances[:7]:
            writer.add(inst)
        assert list(tmp_path.glob(".partial.parquet.*.tmp"))  # row groups are on disk already
        raise exception
    assert _leftovers(tmp_path) == []


def test_writer_incremental_equals_one_shot(tmp_path, instances):
    one = write_store(tmp_path / "one.parquet", instances, label_map=LABELS, params=PARAMS)
    with StoreWriter(tmp_path / "inc.parquet", label_map=LABELS, params=PARAMS, rows_per_group=3) as writer:
        for inst in instances:
            writer.add(inst)
            assert not (tmp_path / "inc.parquet").exists()
    a, b = read_store(one), read_store(tmp_path / "inc.parquet")
    assert a.filename.tolist() == b.filename.tolist()
    for x, y in zip(a.features, b.features):
        np.testing.assert_array_equal(x, y)


def test_writer_without_rows(tmp_path):
    with pytest.raises(StoreError, match="no rows"):
        with StoreWriter(tmp_path / "none.parquet", label_map=LABELS, params={}):
            pass
    assert _leftovers(tmp_path) == []


def test_writer_abort_and_closed(tmp_path, instances):
    writer = StoreWriter(tmp_path / "x.parquet", label_map=LABELS, params={}, rows_per_group=1)
    writer.add(instances[0])
    writer.abort()
    assert _leftovers(tmp_path) == []
    with pytest.raises(StoreError, match="closed"):
        writer.add(instances[1])


# ---------------------------------------------------------------- metadata and parameter checks


def test_read_store_metadata(store):
    meta = read_store_metadata(store)
    assert meta.label_map == LABELS and meta.params == PARAMS
    assert (meta.n_rows, meta.n_features, meta.n_folds) == (12, N_FEATURES, 4)
    assert meta.columns == COLUMNS


def test_check_params(store):
    meta = read_store_metadata(store)
    check_params(meta, {"kind": "autocorrelogram", "sr": 16000.0, "hop_length": 512})
    check_params(read_store(store, columns=["fold"]), {"max_lag": 6})
    with pytest.raises(StoreError, match="hop_length: the store has 512, expected 256"):
        check_params(meta, {"hop_length": 256, "sr": 16000})
    with pytest.raises(StoreError, match=r"n_mels: not recorded.*kind: the store has 'autocorrelogram'"):
        check_params(meta, {"n_mels": 64, "kind": "mel"})
    check_params({"shape": [2, 3]}, {"shape": (2, 3)})
    with pytest.raises(StoreError, match="flag"):
        check_params({"flag": 1}, {"flag": True})
    with pytest.raises(TypeError):
        check_params(meta, ["hop_length"])


# ---------------------------------------------------------------- bad files and arguments


def test_missing_store(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.parquet"):
        read_store(tmp_path / "nothing.parquet")


@pytest.mark.parametrize("content", [b"", b"not parquet at all\n" * 10, b"PAR1" + b"\0" * 100])
def test_not_parquet(tmp_path, content):
    path = tmp_path / "junk.parquet"
    path.write_bytes(content)
    with pytest.raises(StoreError, match=r"junk\.parquet is not a Parquet file"):
        read_store(path)
    with pytest.raises(StoreError, match="junk.parquet"):
        read_store_metadata(path)


def test_truncated_store(store, tmp_path):
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(store.read_bytes()[:-100])
    with pytest.raises(StoreError, match="cut.parquet"):
        read_store(cut)


def test_foreign_parquet(tmp_path):
    path = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"x": [1, 2, 3]}), path)
    with pytest.raises(StoreError, match=r"foreign\.parquet is a Parquet file but not an audiorep feature store"):
        read_store(path)


def test_malformed_metadata(tmp_path, store):
    table = pq.read_table(store)
    path = tmp_path / "odd.parquet"
    pq.write_table(table.replace_schema_metadata({b"audiorep": b"{not json"}), path)
    with pytest.raises(StoreError, match="odd.parquet: malformed"):
        read_store(path)


def test_directory_is_not_a_store(tmp_path):
    with pytest.raises(StoreError, match="directory"):
        read_store(tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"columns": ["features", "spectrum"]}, "spectrum"), ({"folds": "12"}, "folds"), ({"folds": [1.5]}, "folds"),
     ({"validation": 4}, "validation=4"), ({"training": -1}, "training=-1")],
)
def test_bad_read_arguments(store, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        read_store(store, **kwargs)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"label_numeric": 7}, "label_numeric=7 is not in the label map"),
        ({"partition": "validation"}, "partition='validation'"),
        ({"cv_folds": (1, 0)}, "cv_folds has 2 entries"),
        ({"cv_folds": (0, 2, 0, 0)}, "0 .train. or 1"),
        ({"fold": "1"}, "fold='1' must be an integer"),
        ({"filename": ""}, "filename"),
        ({"features": np.ones(6, dtype=np.float32)}, r"shape \(6,\)"),
    ],
)
def test_bad_rows(tmp_path, instances, change, match):
    import dataclasses

    bad = [*instances[:3], dataclasses.replace(instances[3], **change)]
    with pytest.raises(ParameterError, match=match):
        write_store(tmp_path / "bad.parquet", bad, label_map=LABELS, params={})
    assert _leftovers(tmp_path) == []


def test_bad_write_arguments(tmp_path, instances):
    with pytest.raises(ParameterError, match="JSON"):
        write_store(tmp_path / "a.parquet", instances, label_map=LABELS, params={"window": object()})
    with pytest.raises(ParameterError, match="JSON"):
        write_store(tmp_path / "a.parquet", instances, label_map=LABELS, params={"fmax": float("nan")})
    with pytest.raises(TypeError):
        write_store(tmp_path / "a.parquet", "not instances", label_map=LABELS, params={})
    with pytest.raises(ParameterError, match="label_map"):
        write_store(tmp_path / "a.parquet", instances, label_map={"0": 1}, params={})
    with pytest.raises(FileNotFoundError):
        write_store(tmp_path / "no" / "dir.parquet", instances, label_map=LABELS, params={})
    with pytest.raises(TypeError, match="dtype"):
        write_store(tmp_path / "a.parquet", instances[:1], features=[np.array([["a"]])], label_map=LABELS, params={})
    with pytest.raises(ParameterError, match="2 feature arrays for 3 rows"):
        write_store(tmp_path / "a.parquet", instances[:3], features=[np.ones((1, 2))] * 2, label_map=LABELS,
                    params={})
    assert _leftovers(tmp_path) == []


def test_origin_and_alteration_travel_with_copies_and_old_stores_read_as_originals(tmp_path):
    cols = dict(filename=["a.wav", "a-speed0.9.wav"], label_nominal=["Rain", "Rain"], label_numeric=[0, 0],
                cv_folds=[(1,), (1,)], fold=[1, 1], origin=[None, "a.wav"], alteration=[None, "speed=0.9"])
    path = write_store(tmp_path / "s.parquet", cols, features=[np.zeros((2, 3)), np.ones((2, 3))],
                       label_map={0: "Rain"}, params={})
    table = read_store(path)
    assert table.origin.tolist() == [None, "a.wav"] and table.alteration.tolist() == [None, "speed=0.9"]
    assert read_store(path, columns=["origin"]).origin.tolist() == [None, "a.wav"]
    assert table.subset([1]).origin.tolist() == ["a.wav"]
    # a store written before the columns existed: every row reads as an original clip
    import pyarrow.parquet as pq

    old = pq.read_table(path).drop_columns(["origin", "alteration"])
    pq.write_table(old, tmp_path / "old.parquet")
    old_table = read_store(tmp_path / "old.parquet")
    assert old_table.origin.tolist() == [None, None] and old_table.n_rows == 2
    with pytest.raises(ParameterError, match="origin=''"):
        write_store(tmp_path / "bad.parquet", {**cols, "origin": [None, ""]}, features=[np.zeros((2, 3))] * 2,
                    label_map={0: "Rain"}, params={})
