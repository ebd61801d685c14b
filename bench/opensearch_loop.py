#!/usr/bin/env python3
"""A plain, tuned bulk loop: the rate the OpenSearch node itself can ingest.

Sends the documents of INPUT (one JSON object per line) to OpenSearch with the bulk API,
as fast as the node takes them: every request body is built (and, with --gzip,
compressed) before the clock starts, so the client costs next to nothing while it runs,
and CONCURRENCY threads keep that many requests in flight over persistent connections.
Each document goes to PREFIX-YYYY.MM.DD (from its --time-field) with the `_id` the
pipectl sink gives it (`event.id`, else SHA-256 of the source name and the document),
so the node does the same work for both. A request with refused items is sent again (ids make that
idempotent). Prints one JSON line of results.

Usage: opensearch_loop.py URL INPUT PREFIX --batch N --concurrency C [--gzip] [--limit N]
                          [--time-field FIELD]
"""

import argparse
import gzip
import hashlib
import http.client
import json
import queue
import sys
import threading
import time
import urllib.parse


def bodies(path, prefix, batch, limit, source, time_field):
    """The bulk bodies, as bytes, and the number of documents."""
    out, lines, n = [], [], 0
    with open(path, "rb") as f:
        for raw in f:
            doc = raw.rstrip(b"\n")
            if not doc:
                continue
            parsed = json.loads(doc)
            when = parsed[time_field]
            index = f"{prefix}-{when[0:4]}.{when[5:7]}.{when[8:10]}"
            digest = parsed.get("event", {}).get("id") or hashlib.sha256(source + b"\x1f" + doc).hexdigest()[:32]
            lines.append(b'{"index":{"_index":"%s","_id":"%s"}}\n%s\n' % (index.encode(), digest.encode(), doc))
            n += 1
            if len(lines) == batch:
                out.append(b"".join(lines))
                lines = []
            if limit and n >= limit:
                break
    if lines:
        out.append(b"".join(lines))
    return out, n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("input")
    p.add_argument("prefix")
    p.add_argument("--batch", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--gzip", action="store_true")
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--time-field", default="@timestamp")
    a = p.parse_args()

    plain, docs = bodies(a.input, a.prefix, a.batch, a.limit, b"bench.input", a.time_field)
    work = queue.Queue()
    for body in plain:
        work.put(gzip.compress(body, compresslevel=1) if a.gzip else body)
    target = urllib.parse.urlsplit(a.url)
    headers = {"content-type": "application/x-ndjson"}
    if a.gzip:
        headers["content-encoding"] = "gzip"
    path = "/_bulk?filter_path=errors,items.*.status"
    stats = {"retries": 0, "failed": 0}
    lock = threading.Lock()

    def worker():
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                return
            for attempt in range(20):
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                answer = resp.read()
                if resp.status == 200 and b'"errors":false' in answer:
                    break
                with lock:
                    stats["retries"] += 1
                time.sleep(0.05 * (attempt + 1))
            else:
                with lock:
                    stats["failed"] += 1

    threads = [threading.Thread(target=worker) for _ in range(a.concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    print(json.dumps({
        "docs": docs,
        "seconds": round(seconds, 3),
        "docs_per_s": round(docs / seconds),
        "batch": a.batch,
        "concurrency": a.concurrency,
        "gzip": a.gzip,
        "retried_requests": stats["retries"],
        "failed_requests": stats["failed"],
    }))
    return 1 if stats["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
