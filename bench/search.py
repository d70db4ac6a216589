"""How fast is search on a 10,000-request bin? Every kind of term through the API
(``GET /api/bins/{id}/requests?q=...&limit=50``) against one ``webbin serve`` (gevent worker,
SQLite by default, PostgreSQL with ``--postgres``), the unfiltered list as the baseline.

The bin is filled through the capture URL (four keep-alive senders, rate limits off), so
provider, event, verdict and retry marks are the ones capture computes: 40 % Stripe events
(1 in 100 ``payment_intent.succeeded``), 25 % GitHub (1 in 100 a retry), 15 % Shopify, 20 %
plain JSON to ``/orders/<n>``; bodies of 1-3 KiB (about 20 MiB in all); 10 requests carry the
text ``needle-xyz``, the worst case for a text search (a scan of the whole bin).

For each query: the median time of the first page over ``--rounds`` rounds, how many requests
it held, and, for text queries, the time and number of calls to page through the whole bin
(following ``next_before`` until it is null).

    python bench/search.py [--requests 10000] [--rounds 30] [--postgres URL]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

from benchutil import free_port, wait

QUERIES = [
    ("(no filter)", ""),
    ("method", "method:POST"),
    ("provider (indexed, 40 %)", "provider:stripe"),
    ("event (indexed, 0.4 %)", "event:payment_intent.succeeded"),
    ("provider + event", "provider:shopify event:orders/create"),
    ("retry (0.25 %)", "retry:yes"),
    ("verdict (no match)", "verdict:invalid"),
    ("path glob", "path:/orders/*"),
    ("since", "since:1h"),
    ("negated + method", "-provider:stripe method:POST"),
    ("OR", "provider:github OR event:orders/*"),
    ("header (text)", "header:X-GitHub-Event=push"),
    ("json (text)", "json:data.object.status=succeeded"),
    ("body, rare (text)", 'body:"needle-xyz"'),
    ("bare word, rare (text)", "needle-xyz"),
]
FILLER = "lorem ipsum dolor sit amet " * 100


def delivery(i: int) -> tuple[str, str, dict[str, str], bytes]:
    """The i-th request of the mix: (method, path, headers, body)."""
    pad = FILLER[: 1000 + (i * 37) % 2000]
    extra = " needle-xyz" if i % 1000 == 500 else ""
    json_headers = {"Content-Type": "application/json"}
    kind = i % 20
    if kind < 8:
        kinds = ["invoice.paid", "charge.refunded", "customer.created", "invoice.created"]
        event = "payment_intent.succeeded" if i % 100 == 0 else kinds[i % 4]
        body = {"id": f"evt_{i}", "type": event, "data": {"object": {"status": "succeeded"
                if i % 3 == 0 else "pending", "note": pad + extra}}}  # fmt: skip
        return "POST", "/stripe", {**json_headers, "Stripe-Signature": f"t={i},v1=ab"}, body
    if kind < 13:
        delivery_id = f"d-{i - 1 if i % 100 == 1 else i}"  # 1 in 100 repeats the one before
        headers = {
            **json_headers,
            "X-GitHub-Event": ["push", "pull_request", "issues"][i % 3],
            "X-GitHub-Delivery": delivery_id,
        }
        return "POST", "/github", headers, {"ref": "refs/heads/main", "note": pad + extra}
    if kind < 16:
        topic = ["orders/create", "orders/paid", "products/update"][i % 3]
        return "POST", "/shopify", {**json_headers, "X-Shopify-Topic": topic}, {"note": pad}
    return "POST", f"/orders/{i}", json_headers, {"order": i, "note": pad + extra}


def fill(port: int, token: str, total: int, senders: int = 4) -> None:
    def send(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(offset, total, senders):
            method, path, headers, body = delivery(i)
            data = json.dumps(body).encode() if isinstance(body, dict) else body
            conn.request(method, f"/c/{token}{path}", body=data, headers=headers)
            answer = conn.getresponse()
            answer.read()
            if answer.status != 200:
                raise RuntimeError(f"capture {i}: {answer.status}")
        conn.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def get(conn: http.client.HTTPConnection, path: str) -> dict:
    conn.request("GET", path)
    answer = conn.getresponse()
    data = answer.read()
    if answer.status != 200:
        raise RuntimeError(f"GET {path}: {answer.status} {data[:200]!r}")
    return json.loads(data)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--postgres", help="a PostgreSQL URL (a fresh database) instead of SQLite")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {
            **os.environ,
            "WEBBIN_DATA_DIR": tmp,
            "WEBBIN_CAPTURE_CLIENT_RATE": "0",
            "WEBBIN_CAPTURE_BIN_RATE": "0",
            "WEBBIN_MAX_REQUESTS_PER_BIN": "0",
        }
        env.pop("WEBBIN_DATABASE_URL", None)
        if args.postgres:
            env["WEBBIN_DATABASE_URL"] = args.postgres
        server = subprocess.Popen(
            [sys.executable, "-m", "webbin.cli", "serve", "--port", str(port)],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait(port, server)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("POST", "/api/bins")
            bin_ = json.loads(conn.getresponse().read())
            token = bin_["capture_url"].rsplit("/", 1)[1]
            started = time.perf_counter()
            fill(port, token, args.requests)
            filled = time.perf_counter() - started
            print(
                f"captured {args.requests} requests in {filled:.1f} s "
                f"({args.requests / filled:.0f}/s, 4 senders)"
            )
            conn.close()  # idle through the fill: the server may have closed it
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            base = f"/api/bins/{bin_['id']}/requests?limit=50"
            print(f"{'query':<26}{'first page (median)':>20}{'found':>7}   whole bin")
            for name, q in QUERIES:
                path = base + (f"&q={urllib.parse.quote(q)}" if q else "")
                for _ in range(3):
                    get(conn, path)
                times, found = [], 0
                for _ in range(args.rounds):
                    t0 = time.perf_counter()
                    found = len(get(conn, path)["requests"])
                    times.append(time.perf_counter() - t0)
                line = f"{name:<26}{statistics.median(times) * 1000:17.1f} ms{found:>7}"
                if q and any(word in name for word in ("text",)):
                    t0, calls, total, before = time.perf_counter(), 0, 0, None
                    while True:
                        page = get(conn, path + (f"&before={before}" if before else ""))
                        calls += 1
                        total += len(page["requests"])
                        before = page["next_before"]
                        if before is None:
                            break
                    whole = time.perf_counter() - t0
                    line += f"   {whole * 1000:.0f} ms, {calls} calls, {total} found"
                print(line)
            conn.close()
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
