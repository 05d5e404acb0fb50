"""`lowkey up` keeps serving HTTP whatever its worker does: the worker runs in a process
of its own. Frozen outright (SIGSTOP: the state a job that never yields leaves a loop
in, without even SIGTERM getting through), the API and feed still answer, and SIGTERM
still stops the whole thing within seconds. `lowkey up` runs as a real subprocess on
this run's database and a Redis of the test's own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.worker.process import STOP_GRACE_S
from shared.runtime import start_redis
from shared.settings import Settings
from tests.conftest import ADMIN_KEY, SECRET_KEY
from tests.test_worker_faults import free_port, stop_redis

ROOT = Path(__file__).resolve().parent.parent


class Up:
    def __init__(self, proc: subprocess.Popen[bytes], log: Path, ports: dict[str, int]) -> None:
        self.proc, self.log, self.ports = proc, log, ports

    def url(self, part: str) -> str:
        return f"http://127.0.0.1:{self.ports[part]}"

    def lines(self) -> list[dict[str, object]]:
        out = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out


def wait_ok(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer 200")


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def worker_pid(up_pid: int) -> int:
    """The worker among `lowkey up`'s children (beside redis and multiprocessing's own)."""
    for child in children(up_pid):
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
            return child
    raise AssertionError("no worker process under lowkey up")


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def lowkey_up(settings: Settings, db_clean: None, tmp_path: Path) -> Iterator[Up]:
    redis_url, proc, _ = start_redis(tmp_path / "redis")
    assert proc is not None
    ports = {"api": free_port(), "feed": free_port(), "worker": free_port()}
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOWKEY_")} | {
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": redis_url,
        "LOWKEY_DATA_DIR": str(tmp_path / "data"),
        "LOWKEY_ADMIN_KEY": ADMIN_KEY,
        "LOWKEY_SECRET_KEY": SECRET_KEY,
        "LOWKEY_API_PORT": str(ports["api"]),
        "LOWKEY_FEED_PORT": str(ports["feed"]),
        "LOWKEY_WORKER_METRICS_PORT": str(ports["worker"]),
    }
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        up = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Up(up, log, ports)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait(10)
        stop_redis(tmp_path / "redis")


def test_frozen_worker_stops_neither_http_nor_sigterm(lowkey_up: Up) -> None:
    up = lowkey_up
    wait_ok(up.url("api") + "/healthz", 60)
    wait_ok(up.url("worker") + "/readyz", 30)
    worker = worker_pid(up.proc.pid)
    os.kill(worker, signal.SIGSTOP)

    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        for part in ("api", "feed"):
            answer = httpx.get(up.url(part) + "/healthz", timeout=1)
            assert answer.status_code == 200, part
        time.sleep(0.2)
    created = httpx.post(
        up.url("api") + "/v1/profiles",
        json={"home": {"lat": 53.8, "lon": -1.55}, "radius_km": 3, "comfort_level": 2},
        timeout=5,
    )
    assert created.status_code == 201  # a write too: its scoring waits in the outbox

    stopping = time.monotonic()
    up.proc.send_signal(signal.SIGTERM)
    assert up.proc.wait(STOP_GRACE_S + 10) == 0
    assert time.monotonic() - stopping < STOP_GRACE_S + 10
    assert gone(worker)
    lines = up.lines()
    # The worker's own lines are shown, and say which part wrote them.
    assert any(line.get("part") == "worker" for line in lines)
    assert any("did not stop on SIGTERM; killed" in str(line["event"]) for line in lines)
    assert {line.get("part") for line in lines} <= {"lowkey", "api", "feed", "worker"}


def test_a_worker_that_dies_is_started_again(lowkey_up: Up) -> None:
    up = lowkey_up
    wait_ok(up.url("api") + "/healthz", 60)
    wait_ok(up.url("worker") + "/readyz", 30)
    first = worker_pid(up.proc.pid)
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if worker_pid(up.proc.pid) != first:
                break
        except AssertionError:
            pass
        time.sleep(0.1)
    wait_ok(up.url("worker") + "/readyz", 30)
    assert worker_pid(up.proc.pid) != first
    up.proc.send_signal(signal.SIGINT)  # Ctrl-C
    assert up.proc.wait(STOP_GRACE_S + 10) == 0
    assert any("starting it again" in str(line["event"]) for line in up.lines())
