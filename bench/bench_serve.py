"""Load benchmark of the web app: many clients upload clips at once to a real ``audiorep serve``.

    python bench/bench_serve.py [--clients 20] [--seconds 5] [--jobs 2] [--max-queued 32] [--json out.json]

Starts ``audiorep serve`` in its own process on a free loopback port, then starts
``--clients`` uploads of ``--seconds``-long WAV clips (22.05 kHz, 16-bit, each a
different seeded signal) at the same moment. Each client follows its job over the
event stream to its end. Reported:

* latency per clip, from the start of its upload to the event that says it is done
  (p50, p90, max), and how long the uploads themselves took to be answered; for
  comparison, the latency of one clip uploaded alone beforehand;
* the server process's peak resident memory (RSS), sampled every 20 ms, and its RSS
  when idle before the uploads;
* how every upload ended: done, or refused cleanly (HTTP 503 with Retry-After when the
  queue is full); anything else (an error, a failed job, a dropped connection) makes the
  benchmark exit with status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psutil
import soundfile as sf

SR = 22050


def clip(seconds: float, seed: int) -> bytes:
    """A WAV clip: a gliding harmonic tone over noise, different for every seed."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = rng.uniform(150, 600) * (1 + 0.3 * t / seconds)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    y = sum(0.2 / k * np.sin(k * phase) for k in range(1, 4)) + 0.02 * rng.standard_normal(len(t))
    buffer = io.BytesIO()
    sf.write(buffer, y.astype(np.float32), SR, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def start_server(args) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "audiorep", "serve", "--port", "0", "--jobs", str(args.jobs),
               "--max-queued", str(args.max_queued)]
    # Run from elsewhere, so that a source checkout in the current directory does not shadow the installed package.
    import audiorep

    package_root = str(Path(audiorep.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=tempfile.gettempdir(), env=env)
    line = process.stdout.readline()
    if not line.startswith("serving "):
        process.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return process, line.split()[1].rstrip("/")


class PeakRSS(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = 0
        self.running = True

    def run(self):
        while self.running:
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.NoSuchProcess:
                return
            time.sleep(0.02)


async def one_client(client: httpx.AsyncClient, data: bytes, number: int) -> dict:
    start = time.perf_counter()
    response = await client.post("/api/jobs", files={"file": (f"clip{number}.wav", data, "audio/wav")})
    answered = time.perf_counter() - start
    if response.status_code == 503 and "retry-after" in response.headers:
        return {"outcome": "refused", "upload_s": answered}
    if response.status_code != 201:
        return {"outcome": f"HTTP {response.status_code}: {response.text[:200]}", "upload_s": answered}
    job_id = response.json()["id"]
    final = None
    async with client.stream("GET", f"/api/jobs/{job_id}/events") as events:
        async for line in events.aiter_lines():
            if line.startswith("data: "):
                status = json.loads(line[6:])
                if status["state"] in ("done", "failed", "cancelled"):
                    final = status
    latency = time.perf_counter() - start
    if final is None or final["state"] != "done":
        return {"outcome": f"job ended as {final}", "upload_s": answered}
    return {"outcome": "done", "upload_s": answered, "latency_s": latency}


async def alone(url: str, data: bytes) -> dict:
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        return await one_client(client, data, -1)


async def load(url: str, clips: list[bytes]) -> list[dict]:
    limits = httpx.Limits(max_connections=len(clips) * 2)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        return await asyncio.gather(*(one_client(client, data, i) for i, data in enumerate(clips)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--jobs", type=int, default=2, help="the server's --jobs")
    parser.add_argument("--max-queued", type=int, default=32, help="the server's --max-queued")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()

    clips = [clip(args.seconds, seed) for seed in range(args.clients)]
    process, url = start_server(args)
    try:
        httpx.get(url + "/api/health").raise_for_status()
        idle_rss = psutil.Process(process.pid).memory_info().rss
        single = asyncio.run(alone(url, clip(args.seconds, seed=args.clients)))
        sampler = PeakRSS(process.pid)
        sampler.start()
        start = time.perf_counter()
        results = asyncio.run(load(url, clips))
        wall = time.perf_counter() - start
        sampler.running = False
        sampler.join()
        health = httpx.get(url + "/api/health").json()
    finally:
        process.terminate()
        process.wait(timeout=30)

    latencies = np.array([r["latency_s"] for r in results if r["outcome"] == "done"])
    uploads = np.array([r["upload_s"] for r in results])
    outcomes = {}
    for r in results:
        outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
    figures = {
        "clients": args.clients, "seconds": args.seconds, "jobs": args.jobs, "max_queued": args.max_queued,
        "cpus": os.cpu_count(),
        "outcomes": outcomes, "wall_s": wall,
        "latency_s": {"p50": float(np.percentile(latencies, 50)), "p90": float(np.percentile(latencies, 90)),
                      "max": float(latencies.max())} if len(latencies) else None,
        "alone_s": single.get("latency_s"),
        "upload_answer_s": {"p50": float(np.percentile(uploads, 50)), "max": float(uploads.max())},
        "server_rss_mb": {"idle": idle_rss / 1e6, "peak": sampler.peak / 1e6},
        "server_jobs_after": health["jobs"],
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(figures, f, indent=2)
    clean = set(outcomes) <= {"done", "refused"}
    if not clean:
        print("some uploads neither completed nor were refused cleanly", file=sys.stderr)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
