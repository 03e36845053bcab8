"""The web app's jobs: a directory each, a few running in worker threads, the rest queued.

Nothing here knows about HTTP. A job is created once its upload has been stored and
checked; a worker thread then runs the work function on it. Cancelled and failed jobs
lose their directory at once; finished ones keep it until they expire.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import AudiorepError, Cancelled

log = logging.getLogger(__name__)

__all__ = ["FINISHED", "Job", "JobManager", "QueueFull", "ShuttingDown"]

FINISHED = frozenset({"done", "failed", "cancelled"})


class QueueFull(RuntimeError):
    """Every worker is busy and the queue holds as many jobs as it may."""


class ShuttingDown(RuntimeError):
    """The server is stopping and takes no new jobs."""


@dataclass
class Job:
    """One upload and what became of it. ``name`` is the client's file name, for display only."""

    id: str
    directory: Path
    upload: Path
    name: str
    meta: dict = field(default_factory=dict)
    state: str = "queued"
    stage: str = "queued"
    progress: float = 0.0
    error: str | None = None
    result: dict | None = None
    finished_at: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    history: list = field(default_factory=list)  # every status the job has had, oldest first


Work = Callable[[Job, Callable[[str, float], None]], dict]


class JobManager:
    """Run jobs in ``workers`` threads, queue up to ``max_queued`` more, and expire finished ones.

    Parameters
    ----------
    root : path
        An existing directory; each job gets a fresh subdirectory named by its id.
    work : callable
        ``work(job, report) -> dict`` does the job's work and returns its result;
        ``report(stage, progress)`` records progress and raises :class:`audiorep.Cancelled`
        once the job is cancelled (the work also passes ``job.cancel`` to what it calls).
    workers : int
        Jobs that run at once.
    max_queued : int
        Jobs that may wait for a worker; :meth:`submit` refuses more.
    expire_seconds : float
        How long a finished job, and its files, are kept.
    on_change : callable, optional
        Called with the job after each change of its status, from whichever thread made it.
    """

    def __init__(self, root, work: Work, *, workers: int = 2, max_queued: int = 32, expire_seconds: float = 3600.0,
                 on_change: Callable[[Job], None] | None = None):
        self.root = Path(root)
        self.workers = workers
        self.max_queued = max_queued
        self.expire_seconds = expire_seconds
        self._work = work
        self._on_change = on_change
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="audiorep-job")
        self.closing = False

    # ------------------------------------------------------------ creating and finding

    def new_directory(self) -> tuple[str, Path]:
        """A fresh id and its empty directory (private to this user), for an upload to go into."""
        job_id = secrets.token_hex(16)
        directory = self.root / job_id
        directory.mkdir(mode=0o700)
        return job_id, directory

    def _check_room(self) -> None:
        if self.closing:
            raise ShuttingDown("the server is shutting down")
        queued = sum(job.state == "queued" for job in self._jobs.values())
        if queued >= self.max_queued:
            raise QueueFull(f"the server is busy ({queued} jobs waiting); try again in a moment")

    def discard(self, directory: Path) -> None:
        """Delete a directory from :meth:`new_directory` whose upload never became a job."""
        _remove(directory)

    def check_room(self) -> None:
        """Raise QueueFull or ShuttingDown if a job submitted now would be refused (so an upload need not be read)."""
        with self._lock:
            self._check_room()

    def submit(self, job_id: str, directory: Path, upload: Path, name: str, meta: dict | None = None) -> Job:
        """Queue a job whose upload is stored and checked; raises QueueFull or ShuttingDown."""
        with self._lock:
            self._check_room()
            job = Job(job_id, Path(directory), Path(upload), name, dict(meta or {}))
            self._jobs[job_id] = job
            self._executor.submit(self._run, job)
        log.info("job %s queued (%s)", job_id, name)
        self._changed(job)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def status(self, job: Job) -> dict:
        """A consistent snapshot of the job's status (JSON-ready)."""
        with self._lock:
            return self._snapshot(job)

    @staticmethod
    def _snapshot(job: Job) -> dict:
        return {"id": job.id, "name": job.name, "state": job.state, "stage": job.stage,
                "progress": round(job.progress, 4), "error": job.error}

    def updates(self, job: Job, seen: int = 0) -> tuple[list[dict], int]:
        """The statuses the job has had since the first ``seen``, and the new count seen.

        Stages can pass faster than a client polls; this gives each of them, in order.
        """
        with self._lock:
            return list(job.history[seen:]), len(job.history)

    def counts(self) -> dict:
        """Jobs by state."""
        with self._lock:
            states = [job.state for job in self._jobs.values()]
        return {state: states.count(state) for state in ("queued", "running", "done", "failed", "cancelled")}

    # ------------------------------------------------------------ running

    def _changed(self, job: Job) -> None:
        with self._lock:
            status = self._snapshot(job)
            if not job.history or job.history[-1] != status:
                job.history.append(status)
        if self._on_change is not None:
            self._on_change(job)

    def _update(self, job: Job, **fields) -> None:
        with self._lock:
            for name, value in fields.items():
                setattr(job, name, value)
        self._changed(job)

    def _describe(self, job: Job, exc: BaseException) -> str:
        # Messages name files by their server path; the user knows the upload by its own name.
        text = str(exc).strip() or type(exc).__name__
        text = text.replace(str(job.upload), job.name).replace(str(job.directory) + "/", "")
        return " ".join(text.split())

    def _run(self, job: Job) -> None:
        with self._lock:
            if job.state != "queued":  # cancelled while it waited
                return
            job.state, job.stage = "running", "starting"
        self._changed(job)

        def report(stage: str, progress: float) -> None:
            if job.cancel.is_set():
                raise Cancelled(f"job {job.id} was cancelled")
            self._update(job, stage=stage, progress=progress)

        start = time.perf_counter()
        result, error = None, None
        try:
            result = self._work(job, report)
            if job.cancel.is_set():
                raise Cancelled(f"job {job.id} was cancelled")
        except Cancelled:
            state = "cancelled"
        except (AudiorepError, OSError) as exc:
            state, error = "failed", self._describe(job, exc)
        except Exception as exc:  # a bug: keep serving, tell the user, log the details
            log.exception("job %s failed", job.id)
            state, error = "failed", f"internal error ({type(exc).__name__}); the server log has the details"
        else:
            state = "done"
        if state != "done":
            _remove(job.directory)
        with self._lock:
            job.state, job.error, job.result = state, error, result
            job.stage = "cancelled" if state == "cancelled" else state
            job.progress = 1.0 if state == "done" else job.progress
            job.finished_at = time.monotonic()
        log.info("job %s %s after %.2f s%s", job.id, state, time.perf_counter() - start, f": {error}" if error else "")
        self._changed(job)

    def cancel(self, job: Job) -> None:
        """Cancel a queued or running job; a queued one loses its directory at once.

        A running job stops at the work's next cancel check (well within a second) and then
        loses its directory. A finished job is left as it is.
        """
        with self._lock:
            if job.state == "queued":
                job.state = job.stage = "cancelled"
                job.finished_at = time.monotonic()
                dequeued = True
            elif job.state == "running":
                job.cancel.set()
                job.stage = "cancelling"
                dequeued = False
            else:
                return
        if dequeued:
            _remove(job.directory)
            log.info("job %s cancelled before it started", job.id)
        self._changed(job)

    def forget(self, job: Job) -> bool:
        """Delete a finished job and its files; False if it has not finished."""
        with self._lock:
            if job.state not in FINISHED:
                return False
            self._jobs.pop(job.id, None)
        _remove(job.directory)
        return True

    def expire(self, now: float | None = None) -> int:
        """Delete the jobs that finished more than ``expire_seconds`` ago, with their files."""
        now = time.monotonic() if now is None else now
        with self._lock:
            old = [job for job in self._jobs.values()
                   if job.finished_at is not None and now - job.finished_at >= self.expire_seconds]
            for job in old:
                del self._jobs[job.id]
        for job in old:
            _remove(job.directory)
            log.info("job %s expired", job.id)
        return len(old)

    def close(self) -> None:
        """Refuse new jobs, cancel every job, wait for the workers, and delete ``root`` with everything in it.

        Safe to call more than once.
        """
        with self._lock:
            self.closing = True
            jobs = list(self._jobs.values())
        for job in jobs:
            self.cancel(job)
        self._executor.shutdown(wait=True, cancel_futures=True)
        _remove(self.root)


def _remove(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
