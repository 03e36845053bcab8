"""Damaged and contradictory feature stores: a StoreError naming the column and the row, never other values."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st_

from audiorep import store as st
from audiorep.errors import StoreError

LABELS = {0: "Dog", 1: "Rain"}


@pytest.fixture
def good_store(tmp_path):
    path = tmp_path / "feats.parquet"
    rng = np.random.default_rng(3)
    cols = dict(filename=[f"{i}.wav" for i in range(6)], label_nominal=["Rain", "Dog"] * 3,
                label_numeric=[1, 0] * 3, cv_folds=[(1, 0), (0, 1)] * 3, fold=[1, 2] * 3)
    st.write_store(path, cols, features=[rng.standard_normal((20 + i, 8)) for i in range(6)], label_map=LABELS,
                   params={"kind": "test"}, rows_per_group=3)
    return path


def rewrite(path, table: pa.Table, out):
    """Write ``table`` with the schema metadata of the store at ``path``."""
    metadata = pq.read_schema(path).metadata
    pq.write_table(table.replace_schema_metadata(metadata), out)
    return out


def test_flipped_bytes_never_read_back_as_other_values(good_store, tmp_path):
    reference = st.read_store(good_store)
    data = good_store.read_bytes()
    footer = int.from_bytes(data[-8:-4], "little") + 8
    damaged = tmp_path / "flipped.parquet"
    refused = 0
    for pos in range(4, len(data) - footer, 37):
        flipped = bytearray(data)
        flipped[pos] ^= 0x10
        damaged.write_bytes(bytes(flipped))
        try:
            table = st.read_store(damaged)
        except StoreError:
            refused += 1
            continue
        # whatever reads back is the data as written (a flip in padding or statistics changes nothing)
        for got, want in zip(table.features, reference.features, strict=True):
            np.testing.assert_array_equal(got, want)
        for name in ("filename", "label_numeric", "fold", "cv_folds", "feature_shape"):
            np.testing.assert_array_equal(getattr(table, name), getattr(reference, name))
    assert refused > 0


@pytest.mark.parametrize(("column", "array", "message"), [
    ("label_numeric", pa.array(["1", "0"] * 3), "column 'label_numeric' has type string, not an integer"),
    ("fold", pa.array([1.0, 2.0] * 3), "column 'fold' has type double, not an integer"),
    ("filename", pa.array(list(range(6))), "column 'filename' has type int64, not a string"),
    ("cv_folds", pa.array(["a"] * 6), "column 'cv_folds' has type string, not a list of integers"),
])
def test_a_column_of_the_wrong_type_is_named(good_store, tmp_path, column, array, message):
    table = pq.read_table(good_store)
    table = table.set_column(table.schema.get_field_index(column), column, array)
    bad = rewrite(good_store, table, tmp_path / "typed.parquet")
    with pytest.raises(StoreError, match=message):
        st.read_store(bad)
    with pytest.raises(StoreError, match=message):
        st.read_store_metadata(bad)


@pytest.mark.parametrize("column", ["fold", "label_numeric", "filename", "cv_folds", "chunk_nr"])
def test_a_null_is_named_with_its_row(good_store, tmp_path, column):
    table = pq.read_table(good_store)
    values = table.column(column).to_pylist()
    values[4] = None
    table = table.set_column(table.schema.get_field_index(column), column,
                             pa.array(values, table.schema.field(column).type))
    bad = rewrite(good_store, table, tmp_path / "null.parquet")
    with pytest.raises(StoreError, match=rf"column '{column}' is empty \(null\) at row 4"):
        st.read_store(bad)


def test_a_label_missing_from_the_label_map_is_named(good_store, tmp_path):
    table = pq.read_table(good_store)
    values = table.column("label_numeric").to_pylist()
    values[3] = 7
    table = table.set_column(table.schema.get_field_index("label_numeric"), "label_numeric",
                             pa.array(values, pa.int32()))
    bad = rewrite(good_store, table, tmp_path / "label.parquet")
    with pytest.raises(StoreError, match=r"column 'label_numeric' holds 7 at row 3, which the label map \(\[0, 1\]\)"):
        st.read_store(bad)


def test_a_feature_shape_that_contradicts_the_features_is_named(good_store, tmp_path):
    table = pq.read_table(good_store)
    shapes = table.column("feature_shape").to_pylist()
    shapes[2] = [99, 8]
    table = table.set_column(table.schema.get_field_index("feature_shape"), "feature_shape",
                             pa.array(shapes, pa.list_(pa.int32())))
    bad = rewrite(good_store, table, tmp_path / "shape.parquet")
    with pytest.raises(StoreError, match=r"'feature_shape' says \(99, 8\) at row 2, but the features there are "
                                         r"\(22, 8\)"):
        st.read_store(bad)


def test_a_cv_folds_row_of_the_wrong_width_is_named(good_store, tmp_path):
    table = pq.read_table(good_store)
    folds = table.column("cv_folds").to_pylist()
    folds[5] = [1]
    table = table.set_column(table.schema.get_field_index("cv_folds"), "cv_folds", pa.array(folds, pa.list_(pa.int8())))
    bad = rewrite(good_store, table, tmp_path / "folds.parquet")
    with pytest.raises(StoreError, match=r"column 'cv_folds' holds \[1\] at row 5, not 2 values"):
        st.read_store(bad)


def test_a_file_name_that_is_not_utf8_is_named(good_store, tmp_path):
    table = pq.read_table(good_store)
    raw = [b"a.wav", b"b\xff.wav"] * 3
    offsets = np.cumsum([0] + [len(r) for r in raw]).astype(np.int32)
    names = pa.Array.from_buffers(pa.string(), len(raw), [None, pa.py_buffer(offsets.tobytes()),
                                                          pa.py_buffer(b"".join(raw))])
    table = table.set_column(table.schema.get_field_index("filename"), "filename", names)
    bad = rewrite(good_store, table, tmp_path / "utf8.parquet")
    with pytest.raises(StoreError, match="column 'filename'"):
        st.read_store(bad)


def test_malformed_metadata_json_is_a_store_error(good_store, tmp_path):
    table = pq.read_table(good_store)
    document = json.loads(pq.read_schema(good_store).metadata[b"audiorep"])
    for broken in (b"{not json", json.dumps({**document, "n_folds": "two"}).encode(),
                   json.dumps({**document, "label_map": [1, 2]}).encode()):
        out = tmp_path / "meta.parquet"
        pq.write_table(table.replace_schema_metadata({b"audiorep": broken}), out)
        with pytest.raises(StoreError, match="malformed audiorep metadata"):
            st.read_store(out)


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keep=st_.floats(0.0, 1.0),
       flips=st_.lists(st_.tuples(st_.integers(0, 10**6), st_.integers(1, 255)), max_size=4))
def test_fuzz_cut_and_flipped_stores_give_a_store_error_or_the_data_as_written(good_store, tmp_path, keep, flips):
    data = good_store.read_bytes()
    body = bytearray(data[: max(1, int(len(data) * keep))])
    for pos, mask in flips:
        body[pos % len(body)] ^= mask
    path = tmp_path / "fuzz.parquet"
    path.write_bytes(bytes(body))
    try:
        table = st.read_store(path)
    except StoreError as exc:
        assert str(path) in str(exc)
        return
    reference = st.read_store(good_store)
    assert table.n_rows == reference.n_rows
    for got, want in zip(table.features, reference.features, strict=True):
        np.testing.assert_array_equal(got, want)
