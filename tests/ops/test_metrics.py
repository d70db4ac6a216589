"""/metrics over real connections: off (404) unless WEBBIN_METRICS, a token when one is set,
and under two gunicorn workers every scrape, whichever worker answers it, reports the sum of
both workers' counts; a killed worker's live viewers leave the gauge, its counts stay."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from deployment import REDIS_URL, get, needs_redis, post, wait_healthy
from helpers import capture_path
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from websockets.sync.client import connect as ws_connect


def sample(text: str, name: str, labels: str = "") -> float | None:
    """A sample's value in exposition text, None when it is not there."""
    wanted = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        key, _space, value = line.rpartition(" ")
        if key == wanted:
            return float(value)
    return None


def scrape(server, **headers: str) -> str:
    status, answer_headers, body = get(server.url + "/metrics", headers=headers)
    assert status == 200, body
    assert answer_headers["Content-Type"].startswith("text/plain; version=")
    return body.decode()


def workers_of(server) -> list[int]:
    """The gunicorn workers: the children of ``webbin serve``'s process (the master)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == server.process.pid:
                children.append(int(entry.name))
    return children


def captures_per_worker(folder: Path, scratch: Path) -> dict[int, float]:
    """Each worker's own count of 200 captures, read from its file alone."""
    counts = {}
    for file in folder.glob("counter_*.db"):
        alone = Path(tempfile.mkdtemp(dir=scratch))
        shutil.copy(file, alone)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))
        for metric in registry.collect():
            for s in metric.samples:
                if s.name == "webbin_captures_total" and s.labels == {"status": "200"}:
                    counts[int(file.stem.split("_")[1])] = s.value
    return counts


def test_off_by_default(server):
    status, _headers, _body = get(server.url + "/metrics")
    assert status == 404


def test_a_token_is_required_when_set(serve):
    server = serve({"WEBBIN_METRICS": "true", "WEBBIN_METRICS_TOKEN": "s3cret-scraper"})
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-scraper"}):
        status, answer_headers, body = get(server.url + "/metrics", headers=headers)
        assert status == 401, headers
        assert answer_headers["WWW-Authenticate"].startswith("Bearer")
        assert json.loads(body)["error"] == "unauthorized"
        assert b"webbin_" not in body
    text = scrape(server, Authorization="Bearer s3cret-scraper")
    assert "# TYPE webbin_live_viewers gauge" in text


# The bin's burst: what two workers store between them before the bin's limit refuses.
BURST = 200


@needs_redis  # so that the 429s are exact across the workers
def test_counts_of_two_workers_add_up(serve, tmp_path, redis_prefix):
    scratch = tmp_path / "scratch"
    (tmp_path / "tmp").mkdir()
    scratch.mkdir()
    server = serve(
        {
            "WEBBIN_METRICS": "1",
            "WEBBIN_WORKERS": "2",
            "WEBBIN_CAPTURE_BIN_BURST": str(BURST),
            "WEBBIN_CAPTURE_BIN_RATE": "0.001",
            "WEBBIN_REDIS_URL": REDIS_URL,
            "WEBBIN_REDIS_KEY_PREFIX": redis_prefix,
            "TMPDIR": str(tmp_path / "tmp"),
        }
    )
    (folder,) = (tmp_path / "tmp").glob("webbin-metrics-*")
    bin_ = json.loads(post(server.url + "/api/bins")[2])

    # Rounds of 20 at once, each on its own connection, until both workers have taken some
    # (which one accepts a connection is the kernel's choice, and the second worker may
    # still be starting); then the rest of the bin's burst and 5 more, refused.
    def send(count: int) -> list[int]:
        return list(
            pool.map(lambda _: post(server.url + capture_path(bin_), b"x")[0], range(count))
        )

    statuses: list[int] = []
    with ThreadPoolExecutor(16) as pool:
        while len([n for n in captures_per_worker(folder, scratch).values() if n]) < 2:
            assert len(statuses) < BURST - 20, "one worker took every capture"
            statuses += send(20)
        statuses += send(BURST - len(statuses) + 5)
    assert sorted(statuses) == [200] * BURST + [429] * 5
    per_worker = captures_per_worker(folder, scratch)
    assert len([n for n in per_worker.values() if n]) == 2, per_worker
    assert sum(per_worker.values()) == BURST

    with ExitStack() as stack:
        stream = server.url.replace("http://", "ws://") + f"/api/bins/{bin_['id']}/stream"
        for _ in range(3):
            stack.enter_context(ws_connect(stream))
        # Every scrape, on a new connection to whichever worker, says the same totals.
        for _ in range(8):
            text = scrape(server)
            assert sample(text, "webbin_captures_total", 'status="200"') == BURST
            assert sample(text, "webbin_captures_total", 'status="429"') == 5
            assert sample(text, "webbin_capture_duration_seconds_count") == BURST + 5
            assert sample(text, "webbin_rate_limit_refusals_total", 'limit="capture_bin"') == 5
            assert 1 <= sample(text, "webbin_broker_published_total") <= BURST
            assert sample(text, "webbin_live_viewers") == 3

        # Workers die (the viewers' sockets with them); gunicorn starts new ones.
        old = workers_of(server)
        for pid in old:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while len(set(workers_of(server)) - set(old)) < 2:
            assert time.monotonic() < deadline, "gunicorn did not replace its workers"
            time.sleep(0.1)
        wait_healthy(server)
        text = scrape(server)
        assert sample(text, "webbin_live_viewers") == 0
        assert sample(text, "webbin_captures_total", 'status="200"') == BURST
        # The new workers count on top of what the dead ones counted.
        assert post(server.url + capture_path(bin_), b"x")[0] == 429
        assert sample(scrape(server), "webbin_captures_total", 'status="429"') == 6

    server.stop()
    assert not folder.exists()  # the master removes its metric files as it stops


def test_metric_names_are_documented():
    """Every metric webbin defines is described in docs/deploy.md."""
    from prometheus_client.metrics import MetricWrapperBase

    from webbin import metrics

    names = {m._name for m in vars(metrics).values() if isinstance(m, MetricWrapperBase)}
    assert len(names) == 9
    text = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text()
    documented = set(re.findall(r"`(webbin_[a-z_]+)`", text))
    missing = {n for n in names if not any(d.startswith(n) for d in documented)}
    assert not missing, missing
