"""The web app: one page and a JSON API over the jobs (Starlette on uvicorn).

Uploads are streamed into a fresh directory per job, under a cap, and checked before
they are queued, so a file that is not audio is refused with a 4xx and a one-line JSON
``{"error": ...}``. The work runs in worker threads (the kernels release the GIL), so
the event loop keeps answering while jobs run. Progress reaches the page as
server-sent events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import anyio
import uvicorn
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import __version__
from .._util import positive_int, positive_number
from ..errors import AudioFormatError, ParameterError
from .analysis import analyse, check_upload, warm_up
from .jobs import FINISHED, JobManager, QueueFull, ShuttingDown

log = logging.getLogger(__name__)

__all__ = ["create_app", "serve", "serve_in_thread"]

STATIC = Path(__file__).with_name("static")
MB = 1_000_000
MULTIPART_SLACK = 64 * 1024  # form headers and boundaries allowed beyond the file itself
JOB_ID = re.compile(r"[0-9a-f]{32}")
UPLOAD_NAME = "upload"  # the stored upload; the client's file name is never part of a path
RESULTS = {  # served name -> media type
    "result.arep": "application/octet-stream",
    "decoded.wav": "audio/wav",
    "autocorrelogram.json": "application/json",
    "analysis.json": "application/json",
}
ORIGINAL_TYPES = {"WAV": "audio/wav", "WAVEX": "audio/wav", "FLAC": "audio/flac", "OGG": "audio/ogg",
                  "MPEG": "audio/mpeg", "MP3": "audio/mpeg", "AIFF": "audio/aiff"}
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    # plotly injects its own style elements.
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; "
                                 b"style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
                                 b"media-src 'self' blob:; worker-src 'self' blob:; frame-ancestors 'none'"),
]
SSE_WAKE_SECONDS = 1.0  # how often an idle event stream checks whether the server is stopping
SSE_KEEPALIVE_SECONDS = 15.0
CANCEL_WAIT_SECONDS = 5.0


class _UploadError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _busy(exc: Exception) -> JSONResponse:
    """503 for a full queue (come back in a moment) or a server that is stopping."""
    return _error(503, str(exc), headers={"retry-after": "5"} if isinstance(exc, QueueFull) else None)


def _display_name(raw: bytes | None) -> str:
    """The client's file name, for showing only: its last path component, printable, at most 200 characters."""
    text = raw.decode("utf-8", "replace") if raw else ""
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if ch.isprintable()).strip()
    return text[:200] or "upload"


def _download_name(name: str, suffix: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", name.rsplit(".", 1)[0]).strip("_")
    return (stem[:100] or "audio") + suffix


# ---------------------------------------------------------------- uploads

class _FileField:
    """Callbacks for python-multipart that store the form field ``file`` in ``path``, at most ``limit`` bytes."""

    def __init__(self, path: Path, limit: int):
        self.path, self.limit = path, limit
        self.name = None
        self.size = 0
        self.found = self.complete = self.too_big = False
        self._file = None
        self._headers: dict[bytes, bytes] = {}
        self._field = self._value = b""

    def callbacks(self) -> dict:
        return {"on_part_begin": self._part_begin, "on_header_field": self._header_field,
                "on_header_value": self._header_value, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
                "on_part_end": self._part_end, "on_end": self._end}

    def _part_begin(self):
        self._headers = {}

    def _header_field(self, data, start, end):
        self._field += data[start:end]

    def _header_value(self, data, start, end):
        self._value += data[start:end]

    def _header_end(self):
        self._headers[self._field.strip().lower()] = self._value.strip()
        self._field = self._value = b""

    def _headers_finished(self):
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if options.get(b"name") == b"file" and not self.found:
            self.found = True
            self.name = _display_name(options.get(b"filename"))
            self._file = open(self.path, "xb")  # noqa: SIM115 - closed at the part's end or by close()

    def _part_data(self, data, start, end):
        if self._file is not None:
            self.size += end - start
            if self.size > self.limit:
                self.too_big = True
            else:
                self._file.write(data[start:end])

    def _part_end(self):
        self.close()

    def _end(self):
        self.complete = True

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None


async def _receive_upload(request: Request, field: _FileField) -> None:
    """Stream the request's multipart body into ``field``, stopping as soon as it passes the cap."""
    too_big = _UploadError(413, f"the file is larger than the {field.limit / MB:g} MB this server accepts")
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or not options.get(b"boundary"):
        raise _UploadError(415, "send the audio as multipart/form-data in a field named 'file' "
                                "(curl -F file=@clip.wav)")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > field.limit + MULTIPART_SLACK:
        raise too_big
    parser = MultipartParser(options[b"boundary"], field.callbacks())
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > field.limit + MULTIPART_SLACK:
                raise too_big
            parser.write(chunk)
            if field.too_big:
                raise too_big
        parser.finalize()
    except MultipartParseError as exc:
        raise _UploadError(400, f"malformed multipart upload ({exc})") from None
    finally:
        field.close()
    if not field.found:
        raise _UploadError(400, "the upload has no field named 'file' (curl -F file=@clip.wav)")
    if not field.complete:
        raise _UploadError(400, "the upload ended before the end of the form")


def _same_origin(request: Request) -> bool:
    """False for a cross-site request from a browser (another page posting to this server)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser, or a same-origin GET-like request
    return origin.split("://", 1)[-1] == request.headers.get("host", "")


# ---------------------------------------------------------------- handlers

def _manager(request: Request) -> JobManager:
    return request.app.state.manager


def _job(request: Request):
    job_id = request.path_params["job_id"]
    job = _manager(request).get(job_id) if JOB_ID.fullmatch(job_id) else None
    if job is None:
        raise HTTPException(404, "no such job (it never existed, was deleted, or expired)")
    return job


async def page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html")


async def plotly_js(request: Request) -> Response:
    return FileResponse(request.app.state.plotly_js, media_type="text/javascript",
                        headers={"cache-control": "public, max-age=86400"})


async def health(request: Request) -> Response:
    manager = _manager(request)
    predictor = request.app.state.predictor
    return JSONResponse({
        "status": "stopping" if request.app.state.stopping else "ok", "version": __version__,
        "jobs": manager.counts(), "workers": manager.workers, "max_queued": manager.max_queued,
        "max_upload_bytes": request.app.state.max_upload_bytes, "expire_seconds": manager.expire_seconds,
        "model": None if predictor is None else {"labels": predictor.labels},
    })


async def create_job(request: Request) -> Response:
    if not _same_origin(request):
        return _error(403, "uploads from other sites are refused")
    manager = _manager(request)
    try:
        manager.check_room()  # before the upload is read
        job_id, directory = manager.new_directory()
    except (QueueFull, ShuttingDown) as exc:
        return _busy(exc)
    except OSError as exc:
        log.error("cannot create a job directory: %s", exc)
        return _error(503, "the server cannot store uploads right now")
    field = _FileField(directory / UPLOAD_NAME, request.app.state.max_upload_bytes)
    accepted = False
    try:
        await _receive_upload(request, field)
        if field.size == 0:
            raise _UploadError(400, f"{field.name} is empty (0 bytes)")
        try:
            header = await anyio.to_thread.run_sync(check_upload, field.path)
        except AudioFormatError as exc:
            raise _UploadError(415, " ".join(str(exc).replace(str(field.path), field.name).split())) from None
        job = manager.submit(job_id, directory, field.path, field.name, {"format": header.format})
        accepted = True
    except _UploadError as exc:
        log.info("upload refused (%d): %s", exc.status, exc.message)
        return _error(exc.status, exc.message)
    except (QueueFull, ShuttingDown) as exc:
        return _busy(exc)
    except ClientDisconnect:
        log.info("upload abandoned by the client")
        return Response(status_code=400)
    finally:
        if not accepted:
            await anyio.to_thread.run_sync(manager.discard, directory)
    return JSONResponse({"id": job.id, **_status(request, job)}, status_code=201,
                        headers={"location": f"/api/jobs/{job.id}"})


def _status(request: Request, job) -> dict:
    status = _manager(request).status(job)
    if status["state"] == "done":
        status["result"] = job.result
    return status


async def job_status(request: Request) -> Response:
    return JSONResponse(_status(request, _job(request)), headers={"cache-control": "no-store"})


async def job_events(request: Request) -> Response:
    job = _job(request)
    app = request.app
    manager = _manager(request)

    # A reconnecting EventSource says how far it got; it is sent the rest.
    resume = request.headers.get("last-event-id", "")
    first = int(resume) if resume.isdigit() else 0

    async def stream():
        with app.state.notifier.listen(job.id) as changed:
            yield "retry: 1000\n\n"
            seen, state, idle = first, None, 0.0
            while True:
                statuses, count = manager.updates(job, seen)
                for number, status in enumerate(statuses, start=seen + 1):
                    if status["state"] == "done":
                        status = {**status, "result": job.result}
                    yield f"id: {number}\ndata: {json.dumps(status)}\n\n"
                    state, idle = status["state"], 0.0
                seen = count
                if state in FINISHED or app.state.stopping:
                    return
                try:
                    await asyncio.wait_for(changed.wait(), SSE_WAKE_SECONDS)
                except asyncio.TimeoutError:
                    idle += SSE_WAKE_SECONDS
                    if idle >= SSE_KEEPALIVE_SECONDS:
                        yield ": keepalive\n\n"
                        idle = 0.0
                changed.clear()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})


async def delete_job(request: Request) -> Response:
    if not _same_origin(request):
        return _error(403, "requests from other sites are refused")
    manager = _manager(request)
    job = _job(request)
    status = manager.status(job)
    if status["state"] in FINISHED:
        await anyio.to_thread.run_sync(manager.forget, job)
        return JSONResponse({**status, "deleted": True})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CANCEL_WAIT_SECONDS
    with request.app.state.notifier.listen(job.id) as changed:
        await anyio.to_thread.run_sync(manager.cancel, job)
        # A running job stops at its next cancel check; answer with its final state.
        while manager.status(job)["state"] not in FINISHED and loop.time() < deadline:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), deadline - loop.time())
            changed.clear()
    status = manager.status(job)
    return JSONResponse(status, status_code=200 if status["state"] in FINISHED else 202)


async def job_file(request: Request) -> Response:
    job = _job(request)
    name = request.path_params["name"]
    if name != "original" and name not in RESULTS:
        raise HTTPException(404, f"a job has no file {name[:40]!r}; it has original, {', '.join(RESULTS)}")
    state = _manager(request).status(job)["state"]
    if state in ("failed", "cancelled"):
        return _error(410, f"the job {state}; its files are deleted")
    if name == "original":
        path, media_type = job.upload, ORIGINAL_TYPES.get(job.meta.get("format"), "application/octet-stream")
    elif state != "done":
        return _error(409, f"the job is {state}; its results are there once it is done")
    else:
        path, media_type = job.directory / name, RESULTS[name]
    if not path.is_file():  # expired or deleted a moment ago
        raise HTTPException(404, "no such job (it never existed, was deleted, or expired)")
    if name == "result.arep":
        return FileResponse(path, media_type=media_type, filename=_download_name(job.name, ".arep"))
    return FileResponse(path, media_type=media_type, headers={"cache-control": "no-store"})


async def http_error(request: Request, exc: HTTPException) -> Response:
    return _error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


# ---------------------------------------------------------------- the app

class _Notifier:
    """Wakes the event streams waiting on a job when a worker thread changes it."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.listeners: dict[str, set[asyncio.Event]] = {}

    def changed(self, job) -> None:  # any thread
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is listening
            self.loop.call_soon_threadsafe(self._wake, job.id)

    def _wake(self, job_id: str) -> None:
        for event in self.listeners.get(job_id, ()):
            event.set()

    @contextlib.contextmanager
    def listen(self, job_id: str):
        event = asyncio.Event()
        self.listeners.setdefault(job_id, set()).add(event)
        try:
            yield event
        finally:
            waiting = self.listeners.get(job_id, set())
            waiting.discard(event)
            if not waiting:
                self.listeners.pop(job_id, None)


class _SecurityHeaders:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        return await self.app(scope, receive, send_with_headers)


def _plotly_js() -> Path:
    from importlib.resources import files

    path = Path(str(files("plotly") / "package_data" / "plotly.min.js"))
    if not path.is_file():
        raise FileNotFoundError(2, "the installed plotly has no bundled plotly.min.js", str(path))
    return path


def create_app(*, max_upload_mb=50.0, jobs=2, expire_minutes=60.0, max_queued=32, model=None, work_dir=None,
               allowed_hosts=None) -> Starlette:
    """Build the ASGI app.

    Parameters
    ----------
    max_upload_mb : float
        Largest upload accepted, in MB (10**6 bytes); larger ones get HTTP 413.
    jobs : int
        Jobs processed at once; the rest wait in a queue.
    expire_minutes : float
        How long a finished job's results are kept.
    max_queued : int
        Jobs that may wait; more get HTTP 503 with Retry-After.
    model : path, optional
        A deployed model (the directory ``audiorep export`` writes) for class predictions.
    work_dir : path, optional
        Where the per-job directories go (inside a fresh temporary directory, deleted at shutdown).
    allowed_hosts : list of str, optional
        Host names the app answers to (default: any).

    Examples
    --------
    >>> app = create_app(jobs=1, max_upload_mb=10)
    >>> app.state.max_upload_bytes
    10000000
    """
    limit = int(positive_number(max_upload_mb, "max_upload_mb") * MB)
    workers = positive_int(jobs, "jobs")
    expire_seconds = positive_number(expire_minutes, "expire_minutes") * 60.0
    queue_limit = positive_int(max_queued, "max_queued")
    predictor = None
    if model is not None:
        from ..pipeline import load_model

        predictor = load_model(model)
    plotly_path = _plotly_js()

    def work(job, report):
        return analyse(job.upload, job.directory, report=report, cancel=job.cancel, predictor=predictor)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await anyio.to_thread.run_sync(warm_up)
        root = Path(tempfile.mkdtemp(prefix="audiorep-serve-", dir=work_dir))
        notifier = _Notifier(asyncio.get_running_loop())
        manager = JobManager(root, work, workers=workers, max_queued=queue_limit, expire_seconds=expire_seconds,
                             on_change=notifier.changed)
        app.state.manager, app.state.notifier = manager, notifier
        app.state.stopping = False
        log.info("job files under %s", root)

        async def expire_periodically():
            while True:
                await asyncio.sleep(min(30.0, max(0.05, expire_seconds / 4)))
                await anyio.to_thread.run_sync(manager.expire)

        reaper = asyncio.create_task(expire_periodically())
        try:
            yield
        finally:
            app.state.stopping = True
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
            await anyio.to_thread.run_sync(manager.close)

    routes = [
        Route("/", page),
        Route("/static/vendor/plotly.min.js", plotly_js),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/api/health", health),
        Route("/api/jobs", create_job, methods=["POST"]),
        Route("/api/jobs/{job_id}", job_status, methods=["GET"]),
        Route("/api/jobs/{job_id}", delete_job, methods=["DELETE"]),
        Route("/api/jobs/{job_id}/events", job_events),
        Route("/api/jobs/{job_id}/{name}", job_file),
    ]
    middleware = [Middleware(_SecurityHeaders)]
    if allowed_hosts:
        middleware.insert(0, Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)))
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                    exception_handlers={HTTPException: http_error})
    app.state.predictor = predictor
    app.state.max_upload_bytes = limit
    app.state.plotly_js = plotly_path
    app.state.stopping = False
    return app


class _Server(uvicorn.Server):
    """uvicorn's server, which also tells the app's event streams to end when a signal stops it."""

    def __init__(self, config: uvicorn.Config, app: Starlette):
        super().__init__(config)
        self._app = app

    def handle_exit(self, sig, frame) -> None:
        # A plain assignment: safe in a signal handler. Open event streams see it within a second,
        # so the server need not wait for them; the app's shutdown then cancels the jobs.
        self._app.state.stopping = True
        super().handle_exit(sig, frame)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ParameterError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    sock.listen(2048)  # connections wait in the backlog until uvicorn accepts them
    return sock


LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1", "[::1]"]


def _url(host: str, port: int) -> str:
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


def serve(*, host="127.0.0.1", port=8000, announce: Callable[[str], None] | None = None, **options) -> None:
    """Run the web app with uvicorn until Ctrl-C or SIGTERM, then cancel the jobs and delete their files.

    ``options`` go to :func:`create_app`. Bound to a loopback address (the default), the app
    answers only to loopback host names, which keeps other web sites from reaching it through
    DNS rebinding. ``announce(url)`` is called once the server listens.
    """
    port = positive_int(port, "port") if port else 0
    local = host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
    app = create_app(allowed_hosts=[*LOOPBACK_NAMES, host] if local else None, **options)
    sock = _listen(host, port)
    config = uvicorn.Config(app, log_config=None, timeout_graceful_shutdown=5, lifespan="on")
    server = _Server(config, app)
    if announce is not None:
        announce(_url(host, sock.getsockname()[1]) + "/")
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # the signal uvicorn re-raises once it has shut down
        pass
    finally:
        manager = getattr(app.state, "manager", None)
        if manager is not None:  # uvicorn skips the app's shutdown on a second Ctrl-C
            manager.close()
        sock.close()


@contextlib.contextmanager
def serve_in_thread(app: Starlette, *, host="127.0.0.1", port=0, timeout=30.0):
    """Run ``app`` (from :func:`create_app`) on uvicorn in a background thread, for a notebook, a script or a test.

    Yields the base URL once the server answers; on leaving, stops it as a signal would (the
    jobs are cancelled and their files deleted). ``port=0`` takes a free port.

    Examples
    --------
    >>> import urllib.request, json
    >>> with serve_in_thread(create_app(jobs=1)) as url:
    ...     json.load(urllib.request.urlopen(url + "/api/health"))["status"]
    'ok'
    """
    sock = _listen(host, port)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on", timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="audiorep-serve", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the web app did not start (see the log)")
            time.sleep(0.01)
        yield _url(host, sock.getsockname()[1])
    finally:
        app.state.stopping = True
        server.should_exit = True
        thread.join()
        sock.close()
