"""The web app (``audiorep serve``): the JSON API against a real uvicorn server, and the page in a real browser.

Needs the ``serve`` extra (the tests that need it skip without it) and, for the
browser test, a Chromium executable (``apt-get install chromium``) and playwright.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

try:
    import httpx

    from audiorep.serve import create_app, serve_in_thread
    MISSING = None
except ModuleNotFoundError as exc:  # the serve extra, or httpx from the test extra, is not installed
    MISSING = str(exc)

SHORT_SECONDS = 1.5
LONG_SECONDS = 60.0  # long enough to be cancelled while it is being decoded back (about 4 s of work)


# ---------------------------------------------------------------- helpers


class LiveServer:
    """The app on a real uvicorn server in a thread, on a free loopback port."""

    def __init__(self, app):
        self.app = app
        self._running = serve_in_thread(app)
        self.url = self._running.__enter__()
        self.port = int(self.url.rsplit(":", 1)[1])
        self.client = httpx.Client(base_url=self.url, timeout=30)

    @property
    def manager(self):
        return self.app.state.manager

    def stop(self):
        self.client.close()
        self._running.__exit__(None, None, None)

    def upload(self, path, name=None, **kwargs):
        with open(path, "rb") as f:
            return self.client.post("/api/jobs", files={"file": (name or Path(path).name, f, "audio/wav")}, **kwargs)

    def wait(self, job_id, predicate, timeout=60.0):
        deadline = time.monotonic() + timeout
        while True:
            status = self.client.get(f"/api/jobs/{job_id}").json()
            if predicate(status):
                return status
            assert time.monotonic() < deadline, f"timed out; last status {status}"
            time.sleep(0.02)

    def events(self, job_id):
        """Every status the event stream sends, until it ends."""
        seen = []
        with self.client.stream("GET", f"/api/jobs/{job_id}/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith("data: "):
                    seen.append(json.loads(line[len("data: "):]))
        return seen


@pytest.fixture
def start_server(tmp_path):
    """``start_server(**create_app options)``: a running server; stopped, and its files checked gone, after the test."""
    if MISSING:
        pytest.skip(f"the serve extra is not installed ({MISSING})")
    servers = []

    def start(**options):
        options.setdefault("work_dir", tmp_path)
        server = LiveServer(create_app(**options))
        servers.append(server)
        return server

    yield start
    for server in servers:
        root = server.manager.root
        server.stop()
        assert not root.exists(), "the server left job files behind"


def write_clip(path, seconds, sr=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    tremolo = 0.6 + 0.4 * np.sin(2 * np.pi * 0.7 * t)
    y = 0.3 * np.sin(2 * np.pi * 330 * t) * tremolo + 0.03 * rng.standard_normal(len(t))
    sf.write(path, y.astype(np.float32), sr, subtype="PCM_16")
    return path


@pytest.fixture
def short_clip(tmp_path):
    return write_clip(tmp_path / "short.wav", SHORT_SECONDS, sr=22050)


@pytest.fixture
def long_clip(tmp_path):
    return write_clip(tmp_path / "long.wav", LONG_SECONDS, sr=8000, seed=1)


def python_env(**extra) -> dict:
    """The environment for a Python subprocess that imports this audiorep, wherever it runs from."""
    import audiorep

    package_root = str(Path(audiorep.__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **extra}


def job_files(server, job_id) -> list[str]:
    directory = server.manager.root / job_id
    return sorted(os.listdir(directory)) if directory.exists() else []


# ---------------------------------------------------------------- without the extra


def test_serve_without_the_extra_says_how_to_install_it(tmp_path):
    code = ("import sys; sys.modules['uvicorn'] = None\n"
            "from audiorep.cli import main\n"
            "sys.exit(main(['serve', '--port', '0']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env=python_env())
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "uvicorn" in lines[0] and "pip install 'audiorep[serve]'" in lines[0]


# ---------------------------------------------------------------- the API


def test_page_static_files_and_health(start_server):
    server = start_server(jobs=3, max_upload_mb=2)
    page = server.client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "content-security-policy" in page.headers
    for src in ("/static/app.js", "/static/style.css", "/static/vendor/plotly.min.js"):
        assert src in page.text
        response = server.client.get(src)
        assert response.status_code == 200 and len(response.content) > 1000, src
    assert "plotly" in server.client.get("/static/vendor/plotly.min.js").text[:2000].lower()
    health = server.client.get("/api/health").json()
    assert health["status"] == "ok" and health["workers"] == 3 and health["max_upload_bytes"] == 2_000_000
    assert health["jobs"] == {"queued": 0, "running": 0, "done": 0, "failed": 0, "cancelled": 0}
    missing = server.client.get("/api/nothing-here")
    assert missing.status_code == 404 and "error" in missing.json()


def test_a_job_runs_through_every_stage_and_serves_its_results(start_server, short_clip, tmp_path):
    from audiorep.codec import arep_info

    server = start_server()
    created = server.upload(short_clip, name="my clip.wav")
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    assert created.headers["location"] == f"/api/jobs/{job_id}"

    seen = server.events(job_id)
    stages = [s["stage"] for s in seen]
    assert stages[-1] == "done" and seen[-1]["state"] == "done" and seen[-1]["progress"] == 1.0
    order = [stage for stage in ("decoding", "autocorrelogram", "encoding", "decoding back") if stage in stages]
    assert order == ["decoding", "autocorrelogram", "encoding", "decoding back"], stages
    assert [stages.index(s) for s in order] == sorted(stages.index(s) for s in order)
    progress = [s["progress"] for s in seen]
    assert progress == sorted(progress) and progress[-1] == 1.0

    status = server.client.get(f"/api/jobs/{job_id}").json()
    assert status["state"] == "done" and status["error"] is None and status["name"] == "my clip.wav"
    result = status["result"]
    assert result["duration"] == pytest.approx(SHORT_SECONDS) and result["sr"] == 22050

    arep = server.client.get(f"/api/jobs/{job_id}/result.arep")
    assert arep.status_code == 200 and 'filename="my_clip.arep"' in arep.headers["content-disposition"]
    (tmp_path / "got.arep").write_bytes(arep.content)
    header = arep_info(tmp_path / "got.arep")
    assert header.input_sr == 22050 and header.input_samples == int(SHORT_SECONDS * 22050)
    assert result["arep_bytes"] == len(arep.content)
    assert result["arep_kbps"] == pytest.approx(len(arep.content) * 8 / 1000 / SHORT_SECONDS, rel=1e-6)
    assert result["original_bytes"] == short_clip.stat().st_size
    assert result["compression"] == pytest.approx(short_clip.stat().st_size / len(arep.content))

    decoded = server.client.get(f"/api/jobs/{job_id}/decoded.wav")
    assert decoded.headers["content-type"] == "audio/wav"
    (tmp_path / "got.wav").write_bytes(decoded.content)
    y, sr = sf.read(tmp_path / "got.wav")
    assert sr == 22050 and len(y) == int(SHORT_SECONDS * 22050) and np.abs(y).max() > 0.01

    original = server.client.get(f"/api/jobs/{job_id}/original")
    assert original.content == short_clip.read_bytes() and original.headers["content-type"] == "audio/wav"

    acg = server.client.get(f"/api/jobs/{job_id}/autocorrelogram.json").json()
    z = np.array(acg["z"])
    assert z.shape == (len(acg["times"]), len(acg["delays_ms"])) and z.shape[0] > 10 and z.shape[1] > 10
    assert np.allclose(z[:, 0], 1.0, atol=1e-3)  # normalised at lag 0
    assert acg["times"][-1] == pytest.approx(SHORT_SECONDS, abs=0.1)
    # The 330 Hz tone: the first correlation peak after lag 0 is near 1000 / 330 ms.
    delays = np.array(acg["delays_ms"])
    mean = z.mean(axis=0)
    window = (delays > 1.5) & (delays < 4.5)
    assert delays[window][np.argmax(mean[window])] == pytest.approx(1000 / 330, abs=0.2)

    analysis = server.client.get(f"/api/jobs/{job_id}/analysis.json").json()
    assert len(analysis["waveform"]["t"]) == len(analysis["waveform"]["max"]) > 100
    assert max(analysis["waveform"]["max"]) == pytest.approx(float(np.max(sf.read(short_clip)[0])), abs=1e-3)
    assert np.array(analysis["mel"]["db"]).shape[0] == analysis["mel"]["bands"]
    assert analysis["prediction"] is None
    assert job_files(server, job_id) == ["analysis.json", "autocorrelogram.json", "decoded.wav", "result.arep",
                                         "upload"]


def _assert_refused(server, response, status, *words):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and "\n" not in body["error"]
    for word in words:
        assert word in body["error"], body["error"]
    assert not str(server.manager.root) in body["error"], "the message shows a server path"
    assert os.listdir(server.manager.root) == [], "a refused upload left files"
    assert server.client.get("/api/health").json()["status"] == "ok"


def test_bad_uploads_get_a_4xx_with_one_line_and_leave_nothing(start_server, short_clip, tmp_path):
    server = start_server()
    text = tmp_path / "notes.wav"
    text.write_text("these are notes, not sound\n" * 20)
    _assert_refused(server, server.upload(text), 415, "notes.wav", "not an audio file")

    truncated = tmp_path / "cut.wav"
    truncated.write_bytes(short_clip.read_bytes()[: short_clip.stat().st_size // 2])
    _assert_refused(server, server.upload(truncated), 415, "cut.wav", "truncated")

    flac = tmp_path / "cut.flac"
    sf.write(flac, sf.read(short_clip)[0], 22050, format="FLAC")
    cut_flac = tmp_path / "cutflac.flac"
    cut_flac.write_bytes(flac.read_bytes()[: flac.stat().st_size // 2])
    _assert_refused(server, server.upload(cut_flac), 415, "cutflac.flac")

    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    _assert_refused(server, server.upload(empty), 400, "empty.wav", "empty")

    _assert_refused(server, server.client.post("/api/jobs", files={"other": ("a.wav", b"RIFF")}), 400, "'file'")
    _assert_refused(server, server.client.post("/api/jobs", content=short_clip.read_bytes(),
                                               headers={"content-type": "audio/wav"}), 415, "multipart/form-data")
    cut_form = (b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\n"
                + short_clip.read_bytes()[:1000])
    _assert_refused(server, server.client.post("/api/jobs", content=cut_form,
                                               headers={"content-type": "multipart/form-data; boundary=XyZ"}), 400)
    # After all that, a good file still goes through.
    job_id = server.upload(short_clip).json()["id"]
    assert server.wait(job_id, lambda s: s["state"] in ("done", "failed"))["state"] == "done"


def _raw_request(port: int, head: str, chunks=()) -> tuple[int, bytes]:
    """Send ``head`` and then ``chunks`` until the server answers; return (body bytes sent, the answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode())
        sent = 0
        for chunk in chunks:
            if select.select([sock], [], [], 0)[0]:
                break  # the server has answered (and stopped reading)
            try:
                sock.sendall(chunk)
            except OSError:
                break
            sent += len(chunk)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _content_length(answer):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    return sent, answer


def _content_length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def test_oversized_uploads_are_refused_without_reading_them(start_server):
    server = start_server(max_upload_mb=1)
    form = "multipart/form-data; boundary=XyZ"
    # A declared length over the cap is refused before the body is sent (curl waits for "100 Continue").
    sent, answer = _raw_request(server.port, f"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {form}\r\n"
                                             "Content-Length: 50000000\r\nExpect: 100-continue\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413") and b"larger than the 1 MB" in answer
    assert os.listdir(server.manager.root) == []

    # A chunked upload of unknown length is read until it passes the cap, and no further.
    part = b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n'

    def chunks():
        yield b"%x\r\n%s\r\n" % (len(part), part)
        for _ in range(2000):  # 32 MB if nobody stopped it
            yield b"4000\r\n" + b"\0" * 0x4000 + b"\r\n"
            time.sleep(0.0005)

    sent, answer = _raw_request(server.port, f"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {form}\r\n"
                                             "Transfer-Encoding: chunked\r\n\r\n", chunks())
    assert answer.startswith(b"HTTP/1.1 413")
    assert sent < 4_000_000, f"the server read {sent} bytes of a 1 MB-capped upload"
    assert os.listdir(server.manager.root) == []
    assert server.client.get("/api/health").status_code == 200


def test_an_abandoned_upload_leaves_nothing(start_server, long_clip):
    server = start_server()
    data = long_clip.read_bytes()
    part = b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="long.wav"\r\n\r\n'
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: multipart/form-data; boundary=XyZ\r\n"
                     b"Content-Length: %d\r\n\r\n" % (len(part) + len(data) + 9) + part + data[:len(data) // 2])
        deadline = time.monotonic() + 10
        while not os.listdir(server.manager.root):  # the upload is being stored
            assert time.monotonic() < deadline
            time.sleep(0.01)
    deadline = time.monotonic() + 10
    while os.listdir(server.manager.root):
        assert time.monotonic() < deadline, "the half upload was left on disk"
        time.sleep(0.02)
    assert server.client.get("/api/health").json()["jobs"]["queued"] == 0


@pytest.mark.parametrize("name", ["../../escape.wav", "..\\..\\escape.wav", "/etc/passwd", "a/b/../../c.wav",
                                  "..", "clip\x00.wav", "<img src=x onerror=alert(1)>.wav"])
def test_client_file_names_are_never_paths(start_server, short_clip, tmp_path, name):
    server = start_server()
    before = sorted(os.listdir(tmp_path))
    response = server.upload(short_clip, name=name)
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    shown = response.json()["name"]
    assert "/" not in shown and "\\" not in shown and "\x00" not in shown
    assert "upload" in job_files(server, job_id)
    assert sorted(os.listdir(tmp_path)) == before  # nothing appeared beside the server's own directory
    assert server.wait(job_id, lambda s: s["state"] in ("done", "failed", "cancelled"))["state"] == "done"
    assert all(f in {"upload", "result.arep", "decoded.wav", "autocorrelogram.json", "analysis.json"}
               for f in job_files(server, job_id))
    disposition = server.client.get(f"/api/jobs/{job_id}/result.arep").headers["content-disposition"]
    assert disposition.endswith('.arep"') and "/" not in disposition and ".." not in disposition


@pytest.mark.parametrize("path", ["/api/jobs/{id}", "/api/jobs/{id}/events", "/api/jobs/{id}/result.arep",
                                  "/api/jobs/{id}/decoded.wav", "/api/jobs/{id}/original",
                                  "/api/jobs/{id}/autocorrelogram.json", "/api/jobs/{id}/analysis.json"])
def test_unknown_jobs_are_404(start_server, path):
    server = start_server()
    for job_id in (secrets.token_hex(16), "not-a-job", "..%2F..%2Fetc", "%2e%2e"):
        response = server.client.get(path.format(id=job_id))
        assert response.status_code == 404, (job_id, response.status_code)
        assert "error" in response.json()
    assert server.client.delete(f"/api/jobs/{secrets.token_hex(16)}").status_code == 404


def test_a_running_job_cancels_within_a_second_and_leaves_no_files(start_server, long_clip):
    server = start_server()
    job_id = server.upload(long_clip).json()["id"]
    server.wait(job_id, lambda s: s["stage"] in ("encoding", "decoding back"))
    assert job_files(server, job_id)
    start = time.perf_counter()
    response = server.client.delete(f"/api/jobs/{job_id}")
    elapsed = time.perf_counter() - start
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    assert elapsed < 1.0, f"cancelling took {elapsed:.2f} s"
    assert not (server.manager.root / job_id).exists()
    status = server.client.get(f"/api/jobs/{job_id}").json()
    assert status["state"] == "cancelled" and status["error"] is None
    assert server.client.get(f"/api/jobs/{job_id}/decoded.wav").status_code == 410
    assert server.client.get("/api/health").json()["jobs"]["cancelled"] == 1


def test_the_job_limit_queues_the_rest_and_a_full_queue_refuses(start_server, long_clip, short_clip):
    server = start_server(jobs=1, max_queued=1)
    first = server.upload(long_clip).json()["id"]
    second = server.upload(long_clip).json()["id"]
    server.wait(first, lambda s: s["state"] == "running")
    assert server.client.get(f"/api/jobs/{second}").json()["state"] == "queued"
    assert server.client.get("/api/health").json()["jobs"] == {"queued": 1, "running": 1, "done": 0, "failed": 0,
                                                                "cancelled": 0}
    refused = server.upload(short_clip)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "5" and "busy" in refused.json()["error"]
    assert sorted(os.listdir(server.manager.root)) == sorted([first, second])

    # The queued job is dropped at once; the running one stops; then the queue moves again.
    cancelled = server.client.delete(f"/api/jobs/{second}").json()
    assert cancelled["state"] == "cancelled" and not (server.manager.root / second).exists()
    assert server.client.get(f"/api/jobs/{first}").json()["state"] == "running"
    assert server.client.delete(f"/api/jobs/{first}").json()["state"] == "cancelled"
    third = server.upload(short_clip).json()["id"]
    assert server.wait(third, lambda s: s["state"] in ("done", "failed"))["state"] == "done"


def test_the_event_loop_answers_while_jobs_run(start_server, long_clip):
    server = start_server(jobs=2)
    ids = [server.upload(long_clip).json()["id"] for _ in range(2)]
    for job_id in ids:
        server.wait(job_id, lambda s: s["stage"] == "decoding back")
    slowest = 0.0
    for _ in range(20):
        start = time.perf_counter()
        assert server.client.get("/api/health").json()["jobs"]["running"] == 2
        slowest = max(slowest, time.perf_counter() - start)
    assert slowest < 0.5, f"a health check took {slowest:.2f} s while two jobs ran"
    for job_id in ids:
        assert server.client.delete(f"/api/jobs/{job_id}").json()["state"] == "cancelled"


def test_finished_jobs_expire_and_can_be_deleted(start_server, short_clip):
    server = start_server(expire_minutes=0.02)  # 1.2 s
    job_id = server.upload(short_clip).json()["id"]
    server.wait(job_id, lambda s: s["state"] == "done")
    assert job_files(server, job_id)
    time.sleep(2.0)
    assert server.client.get(f"/api/jobs/{job_id}").status_code == 404
    assert not (server.manager.root / job_id).exists()

    kept = start_server()
    job_id = kept.upload(short_clip).json()["id"]
    kept.wait(job_id, lambda s: s["state"] == "done")
    deleted = kept.client.delete(f"/api/jobs/{job_id}")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True and deleted.json()["state"] == "done"
    assert kept.client.get(f"/api/jobs/{job_id}").status_code == 404
    assert not (kept.manager.root / job_id).exists()


def test_requests_from_other_sites_are_refused(start_server, short_clip):
    server = start_server()
    response = server.upload(short_clip, headers={"origin": "http://evil.example"})
    assert response.status_code == 403 and os.listdir(server.manager.root) == []
    own = server.upload(short_clip, headers={"origin": server.url})
    assert own.status_code == 201
    server.wait(own.json()["id"], lambda s: s["state"] == "done")


def test_prediction_from_an_exported_model(start_server, short_clip, tmp_path):
    pytest.importorskip("torch")
    from audiorep import pipeline
    from audiorep.errors import ParameterError
    from audiorep.examples import write_synthetic_dataset
    from audiorep.features import FeatureParams

    data = write_synthetic_dataset(tmp_path / "data", clips_per_class=5, seconds=0.5, sr=16000)
    params = FeatureParams(kind="mel", sr=16000, frame_length=512, hop_length=256, n_mels=16)
    pipeline.extract(data, tmp_path / "f.parquet", params)
    pipeline.pool(tmp_path / "f.parquet", tmp_path / "stats.parquet")
    pipeline.export_system([tmp_path / "stats.parquet"], tmp_path / "deploy", epochs=30, hidden=(8,))
    labels = pipeline.load_model(tmp_path / "deploy").labels
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model.json").write_text("{}")
    with pytest.raises(ParameterError, match="not an audiorep model manifest"):
        create_app(model=tmp_path / "broken")

    server = start_server(model=tmp_path / "deploy")
    assert server.client.get("/api/health").json()["model"] == {"labels": labels}
    job_id = server.upload(short_clip).json()["id"]
    seen = server.events(job_id)
    assert "predicting" in [s["stage"] for s in seen] and seen[-1]["state"] == "done"
    top = server.client.get(f"/api/jobs/{job_id}/analysis.json").json()["prediction"]
    assert len(top) == 3 and len({p["label"] for p in top}) == 3
    probabilities = [p["probability"] for p in top]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1 + 1e-6
    # the same numbers as the library's prediction of the same file
    direct = pipeline.predict(tmp_path / "deploy", [short_clip], top=3)[0]
    assert [p["label"] for p in top] == [label for label, _ in direct.top]
    assert probabilities == pytest.approx([p for _, p in direct.top], abs=1e-6)


def test_sigterm_cancels_the_jobs_and_removes_their_files(tmp_path, long_clip):
    if MISSING:
        pytest.skip(f"the serve extra is not installed ({MISSING})")
    work = tmp_path / "work"
    work.mkdir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "audiorep", "serve", "--port", str(port)]
    with subprocess.Popen(command, env=python_env(TMPDIR=str(work)), cwd=tmp_path, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as process:
        try:
            assert f"serving http://127.0.0.1:{port}/" in process.stdout.readline()
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                with open(long_clip, "rb") as f:
                    job_id = client.post("/api/jobs", files={"file": ("long.wav", f)}).json()["id"]
                deadline = time.monotonic() + 60
                while client.get(f"/api/jobs/{job_id}").json()["stage"] not in ("encoding", "decoding back"):
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
                (root,) = list(work.iterdir())
                assert (root / job_id / "upload").exists()
                # An open event stream must not hold the server up.
                with client.stream("GET", f"/api/jobs/{job_id}/events"):
                    start = time.perf_counter()
                    process.send_signal(signal.SIGTERM)
                    rc = process.wait(timeout=20)
                    elapsed = time.perf_counter() - start
            _, errors = process.communicate(timeout=5)
        finally:
            if process.poll() is None:
                process.kill()
    assert rc == 0, errors
    assert elapsed < 8, f"stopping took {elapsed:.1f} s"
    assert list(work.iterdir()) == [], "the server left files behind"


# ---------------------------------------------------------------- the page in a browser


def _chromium() -> str | None:
    for name in (os.environ.get("AUDIOREP_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def wait_until(page, expression: str, timeout: float = 30_000) -> None:
    """Poll ``expression`` in the page (Playwright's own waiting evaluates strings, which the page's CSP forbids)."""
    deadline = time.monotonic() + timeout / 1000
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.05)


def test_the_page_in_a_real_browser(start_server, short_clip, long_clip, tmp_path):
    if MISSING:
        pytest.skip(f"the serve extra is not installed ({MISSING})")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra)")
    executable = _chromium()
    if executable is None:
        pytest.skip("no Chromium executable found (apt-get install chromium, or set AUDIOREP_CHROMIUM)")
    server = start_server(jobs=1)
    text = tmp_path / "notes.wav"
    text.write_text("not a sound\n" * 50)

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable,
                                             args=["--no-sandbox", "--enable-unsafe-swiftshader",
                                                   "--use-angle=swiftshader"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            problems = []
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            # Refused uploads are logged as failed loads; anything else in the console is a fault of the page.
            page.on("console", lambda msg: problems.append(msg.text)
                    if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
            page.goto(server.url)
            wait_until(page, "document.getElementById('limits').textContent.includes('MB')")
            # Record every value the progress bar shows.
            page.evaluate("""() => {
                window.progressSeen = [];
                new MutationObserver(() => window.progressSeen.push(
                    [document.getElementById('stage').dataset.stage,
                     Number(document.querySelector('.progress').getAttribute('aria-valuenow'))]
                )).observe(document.querySelector('.progress'), {attributes: true});
            }""")

            # 1. A clip goes through: progress to 100 %, the 3-D plot and both players load.
            page.set_input_files("#file", str(short_clip))
            wait_until(page, "document.body.dataset.plots === 'ready'", timeout=90_000)
            seen = page.evaluate("window.progressSeen")
            server_side = [value for stage, value in seen if stage not in ("uploading", "checking")]
            assert server_side and server_side[-1] == 100 and server_side == sorted(server_side), seen
            assert page.get_attribute(".progress", "aria-valuenow") == "100"
            assert page.evaluate("document.getElementById('autocorrelogram').data[0].type") == "surface"
            assert page.locator("#autocorrelogram canvas").count() > 0
            assert page.evaluate("document.getElementById('waveform').data.length") == 4
            assert page.evaluate("document.getElementById('spectrogram').data[0].type") == "heatmap"
            wait_until(page, "['audio-original', 'audio-decoded'].every("
                                   "id => document.getElementById(id).readyState >= 1)", timeout=30_000)
            for player in ("audio-original", "audio-decoded"):
                duration = page.evaluate(f"document.getElementById('{player}').duration")
                assert duration == pytest.approx(SHORT_SECONDS, abs=0.05), player
            assert "kbit/s" in page.text_content("#arep-size")
            href = page.get_attribute("#download", "href")
            assert href.endswith("/result.arep") and server.client.get(href).content[:4] == b"AREP"
            page.screenshot(path=str(tmp_path / "done.png"), full_page=True)

            # 2. A longer clip is cancelled while it is being worked on: the job says so and its files are gone.
            page.set_input_files("#file", str(long_clip))
            wait_until(page, "['encoding', 'decoding back'].includes("
                                   "document.getElementById('stage').dataset.stage)", timeout=60_000)
            job_id = page.evaluate("document.body.dataset.job")
            assert (server.manager.root / job_id).exists()
            page.click("#cancel")
            wait_until(page, "document.body.dataset.state === 'cancelled'", timeout=5_000)
            assert "cancelled" in page.text_content("#message")
            assert server.client.get(f"/api/jobs/{job_id}").json()["state"] == "cancelled"
            assert not (server.manager.root / job_id).exists()

            # 3. A text file named .wav: the server's one-line message appears on the page.
            page.set_input_files("#file", str(text))
            wait_until(page, "document.body.dataset.state === 'failed'", timeout=30_000)
            message = page.text_content("#message")
            assert "notes.wav" in message and "not an audio file" in message
            assert problems == [], problems
        finally:
            browser.close()
