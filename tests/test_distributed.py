"""Partitioned stores and extraction on Dask: same rows as one process, killed workers, resume, bad input."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time

import numpy as np
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from audiorep import Cancelled, ParameterError, StoreError
from audiorep.cli import main
from audiorep.datasets import load_dataset
from audiorep.examples import write_synthetic_dataset
from audiorep.extract import dask_client, extract_dataset
from audiorep.features import FeatureParams
from audiorep.store import finish_partitioned_store, part_files, part_path, read_store, read_store_metadata, write_store

PARAMS = FeatureParams(kind="mel", n_mels=16, frame_length=256, hop_length=128)


def _columns(names, folds):
    return dict(filename=names, label_nominal=["Rain"] * len(names), label_numeric=[0] * len(names),
                cv_folds=[(1 if f == 1 else 0,) for f in folds], fold=folds)


def _same_rows(a, b):
    """Rows equal after sorting by file name (and chunk), feature values bit for bit."""
    order_a = np.lexsort((a.chunk_nr, a.filename))
    order_b = np.lexsort((b.chunk_nr, b.filename))
    assert a.filename[order_a].tolist() == b.filename[order_b].tolist()
    for name in ("chunk_nr", "label_numeric", "fold", "partition"):
        assert getattr(a, name)[order_a].tolist() == getattr(b, name)[order_b].tolist(), name
    np.testing.assert_array_equal(a.cv_folds[order_a], b.cv_folds[order_b])
    for i, j in zip(order_a, order_b):
        np.testing.assert_array_equal(a.features[i], b.features[j])
    assert a.label_map == b.label_map


# ---------------------------------------------------------------- partitioned stores, no Dask needed

def test_partitioned_store_reads_like_one_file(tmp_path, rng):
    features = [rng.standard_normal((int(n), 3)).astype(np.float32) for n in rng.integers(1, 6, 7)]
    names = [f"{i}-clip.wav" for i in range(7)]
    folds = [1, 2, 1, 2, 1, 2, 1]
    single = write_store(tmp_path / "one.parquet", _columns(names, folds), features=features,
                         label_map={0: "Rain"}, params={"kind": "demo"})
    directory = tmp_path / "parts"
    directory.mkdir()
    for index, (lo, hi) in enumerate([(0, 3), (3, 4), (4, 7)]):
        write_store(part_path(directory, index), _columns(names[lo:hi], folds[lo:hi]), features=features[lo:hi],
                    label_map={0: "Rain"}, params={"kind": "demo"})
    # Until its shared metadata is written, the directory is an unfinished store.
    with pytest.raises(StoreError, match="run it again"):
        read_store(directory)
    assert finish_partitioned_store(directory).n_rows == 7
    assert (directory / "_common_metadata").is_file() and (directory / "_metadata").is_file()

    whole, parts = read_store(single), read_store(directory)
    assert parts.filename.tolist() == names  # part order is row order
    _same_rows(whole, parts)
    meta = read_store_metadata(directory)
    assert (meta.n_rows, meta.n_features, meta.params) == (7, 3, {"kind": "demo"})
    assert read_store(directory, columns=["filename"], folds=[2]).filename.tolist() == names[1::2]
    assert read_store(directory, validation=0, columns=["fold"]).fold.tolist() == [1, 1, 1, 1]
    # Other readers see one table; the metadata files are not mistaken for parts.
    assert pads.dataset(directory, format="parquet").to_table().num_rows == 7
    assert pq.read_metadata(directory / "_metadata").num_row_groups == 3


def test_finishing_refuses_parts_of_another_store(tmp_path):
    write_store(part_path(tmp_path, 0), _columns(["a.wav"], [1]), features=[np.zeros((2, 3))],
                label_map={0: "Rain"}, params={"kind": "demo"})
    write_store(part_path(tmp_path, 1), _columns(["b.wav"], [1]), features=[np.zeros((2, 3))],
                label_map={0: "Rain"}, params={"kind": "other"})
    with pytest.raises(StoreError, match="part-00001.parquet has another schema"):
        finish_partitioned_store(tmp_path)
    assert not (tmp_path / "_common_metadata").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StoreError, match="no part files"):
        finish_partitioned_store(empty)


def test_local_worker_processes_write_the_same_rows(tmp_path):
    root = write_synthetic_dataset(tmp_path / "data", clips_per_class=3, seconds=0.5, sr=8000)
    one = extract_dataset(load_dataset(root), tmp_path / "one.parquet", PARAMS, progress=False)
    every_core = extract_dataset(load_dataset(root), tmp_path / "all.parquet", PARAMS, workers=-1, progress=False)
    assert one.written == every_core.written == 12
    a, b = read_store(one.path), read_store(every_core.path)
    assert a.filename.tolist() == b.filename.tolist()  # written in dataset order, whichever process finished first
    _same_rows(a, b)


def test_local_processes_write_a_partitioned_store_part_by_part(tmp_path):
    root = write_synthetic_dataset(tmp_path / "data", clips_per_class=3, seconds=0.5, sr=8000)
    (root / "003 - Noise burst" / "1-99999-A.wav").write_bytes(b"not audio at all" * 8)
    one = extract_dataset(load_dataset(root), tmp_path / "one.parquet", PARAMS, progress=False)
    out = tmp_path / "parts"
    report = extract_dataset(load_dataset(root), out, PARAMS, workers=2, partitioned=True, partition_files=5,
                             progress=False)
    assert report.written == 12 and report.partitions == 3 and report.resumed == 0
    assert [name for name, _ in report.failed] == ["003 - Noise burst/1-99999-A.wav"]
    assert out.is_dir() and len(part_files(out)) == 3
    _same_rows(read_store(one.path), read_store(out))
    # One worker (no process started) writes the same parts.
    alone = extract_dataset(load_dataset(root), tmp_path / "alone", PARAMS, partitioned=True, partition_files=5,
                            progress=False)
    _same_rows(read_store(out), read_store(alone.path))


def test_a_local_partitioned_run_cancelled_then_started_again_resumes(tmp_path):
    root = write_synthetic_dataset(tmp_path / "data", clips_per_class=3, seconds=0.5, sr=8000)
    out = tmp_path / "parts"
    with pytest.raises(Cancelled, match="extraction was cancelled"):
        extract_dataset(load_dataset(root), out, PARAMS, partitioned=True, partition_files=2, progress=False,
                        cancel=_OnceAPartIsDone(out))
    finished = {p.name: p.stat().st_mtime_ns for p in part_files(out)}
    assert 1 <= len(finished) < 6
    with pytest.raises(StoreError, match="interrupted"):
        read_store(out)
    report = extract_dataset(load_dataset(root), out, PARAMS, workers=2, partitioned=True, partition_files=2,
                             progress=False)
    assert report.resumed == len(finished) and report.partitions == 6 and report.written == 12
    assert {name: (out / name).stat().st_mtime_ns for name in finished} == finished
    one = extract_dataset(load_dataset(root), tmp_path / "one.parquet", PARAMS, progress=False)
    _same_rows(read_store(one.path), read_store(out))
    # A file where the directory should be is refused by name.
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StoreError, match="is a file"):
        extract_dataset(load_dataset(root), tmp_path / "file", PARAMS, partitioned=True, progress=False)


def test_cli_extract_partitioned_with_local_workers(tmp_path, capsys):
    root = write_synthetic_dataset(tmp_path / "data", clips_per_class=3, seconds=0.5, sr=8000)
    out = tmp_path / "parts"
    assert main(["extract", str(root), "-o", str(out), "--kind", "mel", "--n-mels", "16", "--frame-length", "256",
                 "--hop-length", "128", "--workers", "2", "--partitioned", "--partition-files", "4",
                 "--no-progress"]) == 0
    assert "3 partitions" in capsys.readouterr().out
    assert len(pads.dataset(out, format="parquet").to_table(columns=["filename"])) == 12


# ---------------------------------------------------------------- scheduler arguments

@pytest.mark.parametrize("scheduler", ["local:0", "local:x", "http://127.0.0.1:8786", "tcp://127.0.0.1",
                                       "tcp://127.0.0.1:99999", "127.0.0.1:8786"])
def test_malformed_scheduler_is_refused(scheduler, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # checked before dask is needed
    with pytest.raises(ParameterError, match="scheduler="):
        dask_client(scheduler)


def test_unreachable_scheduler_says_how_to_start_one():
    pytest.importorskip("distributed")
    import socket

    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ParameterError, match=f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}.*dask "
                                             f"scheduler"):
        dask_client(f"tcp://127.0.0.1:{port}", timeout=1)


def test_without_dask_the_error_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now raises ImportError
    root = write_synthetic_dataset(tmp_path / "data", clips_per_class=1, seconds=0.25, sr=8000)
    assert main(["extract", str(root), "-o", str(tmp_path / "store"), "--scheduler", "local:2", "--no-progress"]) == 1
    assert "pip install 'audiorep[dask]'" in capsys.readouterr().err
    assert not (tmp_path / "store").exists()


# ---------------------------------------------------------------- on a Dask cluster of two worker processes

@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    import logging

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as local, distributed.Client(local) as client:
        yield client


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = write_synthetic_dataset(tmp_path_factory.mktemp("data"), clips_per_class=4, seconds=0.5, sr=8000)
    reference = tmp_path_factory.mktemp("reference") / "one.parquet"
    extract_dataset(load_dataset(root), reference, PARAMS, progress=False)
    return root, read_store(reference)


def test_dask_rows_equal_one_process_and_a_bad_file_is_named(cluster, data, tmp_path):
    root, reference = data
    bad_root = tmp_path / "data"
    shutil.copytree(root, bad_root)
    (bad_root / "003 - Noise burst" / "1-99999-A.wav").write_bytes(b"not audio at all" * 8)
    out = tmp_path / "store"
    report = extract_dataset(load_dataset(bad_root), out, PARAMS, scheduler=cluster, partition_files=3,
                             progress=False)
    assert report.written == 16 and report.partitions == 6 and report.resumed == 0
    assert [name for name, _ in report.failed] == ["003 - Noise burst/1-99999-A.wav"]
    assert len(part_files(out)) == 6
    table = read_store(out)
    _same_rows(reference, table)
    # What other readers see: pandas and Dask read the directory as one table of the same rows.
    import dask.dataframe as dd
    import pandas as pd

    assert sorted(pd.read_parquet(out, columns=["filename"])["filename"]) == sorted(reference.filename)
    assert len(dd.read_parquet(out, columns=["filename"]).compute()) == 16


def _kill_once(key_part: str, marker: str):
    """A worker plugin that kills its worker process (SIGKILL) when a chosen task starts, once."""
    from distributed import WorkerPlugin

    class KillOnce(WorkerPlugin):
        name = "audiorep-test-kill-once"

        def transition(self, key, start, finish, **kwargs):
            if finish == "executing" and key_part in str(key) and not os.path.exists(marker):
                with open(marker, "w") as handle:
                    handle.write(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)

    return KillOnce()


def test_a_worker_killed_mid_run_loses_and_duplicates_no_row(cluster, data, tmp_path):
    root, reference = data
    marker = tmp_path / "killed"
    before = set(cluster.scheduler_info()["workers"])
    plugin = _kill_once("part-00002", str(marker))
    cluster.register_plugin(plugin)
    try:
        report = extract_dataset(load_dataset(root), tmp_path / "store", PARAMS, scheduler=cluster,
                                 partition_files=2, progress=False)
    finally:
        cluster.unregister_worker_plugin(plugin.name)
    assert marker.exists()  # a worker did die while it ran partition 2
    killed_pid = int(marker.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(killed_pid, 0)
    assert report.written == 16 and report.failed == []
    table = read_store(tmp_path / "store")
    assert sorted(table.filename.tolist()) == sorted(set(table.filename.tolist()))  # no row twice
    _same_rows(reference, table)
    cluster.wait_for_workers(2, timeout=60)  # the nanny restarts it, for the tests that follow
    assert set(cluster.scheduler_info()["workers"]) != before


class _OnceAPartIsDone(threading.Event):
    """A cancel event that is set from the moment a partition of ``out`` is finished."""

    def __init__(self, out):
        super().__init__()
        self.out = out

    def is_set(self):
        return any((self.out / "_done").glob("part-*.json"))


def test_an_interrupted_run_resumes_and_skips_finished_partitions(cluster, data, tmp_path):
    root, reference = data
    out = tmp_path / "store"
    with pytest.raises(Cancelled, match="extraction was cancelled"):
        extract_dataset(load_dataset(root), out, PARAMS, scheduler=cluster, partition_files=2, progress=False,
                        cancel=_OnceAPartIsDone(out))
    deadline = time.monotonic() + 30
    while any(cluster.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.05)  # a task already running when the run stopped still finishes its part
    with pytest.raises(StoreError, match="interrupted"):
        read_store(out)
    finished = {p.name: p.stat().st_mtime_ns for p in part_files(out)}
    assert 1 <= len(finished) < 8
    leftover = out / ".part-00007.parquet.k1ll3d.tmp"  # what a worker killed while writing leaves
    leftover.write_bytes(b"PAR1")
    report = extract_dataset(load_dataset(root), out, PARAMS, scheduler=cluster, partition_files=2, progress=False)
    assert report.resumed == len(finished) and report.partitions == 8 and report.written == 16
    assert {name: (out / name).stat().st_mtime_ns for name in finished} == finished  # not written again
    assert not leftover.exists()
    _same_rows(reference, read_store(out))
    # Another extraction into the same directory is refused, not mixed in.
    with pytest.raises(StoreError, match="other params"):
        extract_dataset(load_dataset(root), out, FeatureParams(kind="mel", n_mels=8, frame_length=256,
                                                               hop_length=128), scheduler=cluster, progress=False)


def test_cli_joins_a_cluster_by_address_and_every_command_reads_the_directory(cluster, data, tmp_path, capsys):
    root, reference = data
    out = tmp_path / "store"
    address = cluster.scheduler.address
    assert address.startswith("tcp://")
    assert main(["extract", str(root), "-o", str(out), "--scheduler", address, "--partition-files", "5",
                 "--frame-length", "256", "--hop-length", "128", "--n-mels", "16", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "wrote 16 rows" in printed and "4 partitions" in printed
    assert main(["info", str(out)]) == 0
    assert "feature store, 16 rows, 16 values per frame" in capsys.readouterr().out
    assert main(["pool", str(out), "-o", str(tmp_path / "pooled.parquet")]) == 0
    assert read_store(tmp_path / "pooled.parquet").filename.tolist() == reference.filename.tolist()


def test_a_local_cluster_starts_while_another_holds_the_dashboard_port():
    """The HTTP server takes a free port: with 8787 taken (another cluster's dashboard), no warning."""
    import socket

    pytest.importorskip("distributed")
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            held.bind(("", 8787))
        except OSError:
            pass  # already taken by something else: the same situation
        held.listen()
        client, close = dask_client("local:1")
        try:
            assert client.submit(sum, [1, 2]).result(timeout=60) == 3
        finally:
            close()
