"""Under ``webbin serve`` psycopg is imported in the master before a worker patches the
standard library, and psycopg picks its (then blocking) way of waiting at import. The worker
picks again after patching, so a slow query or a LISTEN wait blocks only its own greenlet."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from helpers import PG_URL

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="WEBBIN_TEST_DATABASE_URL is not set"),
]

# As in the worker: psycopg first, then gevent's patching, then (or not) the worker's fix; a
# greenlet ticks every 50 ms while the main one runs a 0.5 s query.
SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import psycopg
    from gevent import monkey
    monkey.patch_all()
    import gevent
    from webbin.serving.worker import cooperative_psycopg
    if sys.argv[2] == "fixed":
        cooperative_psycopg()
    conn = psycopg.connect(sys.argv[1])
    ticks = []
    ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0.05)) for _ in range(5)])
    gevent.sleep(0)
    conn.execute("SELECT pg_sleep(0.5)")
    print(json.dumps({"ticks_during_query": len(ticks)}))
    ticker.join()
    """
)


def ticks(mode: str) -> int:
    url = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, url, mode], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["ticks_during_query"]


def test_a_query_lets_other_greenlets_run_once_the_worker_has_patched():
    assert ticks("fixed") == 5  # all five 50 ms ticks ran during the 0.5 s query
    assert ticks("as-imported") == 0  # without the fix the hub was blocked throughout
