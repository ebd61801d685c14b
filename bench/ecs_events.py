#!/usr/bin/env python3
"""Turns raw CloudTrail records into events shaped as pipectl writes them (docs/schema.md):
ECS fields, the provider record untouched under `aws.cloudtrail` (a flat_object), and
`event.id` derived as the schema defines it. This is the per-document work the node
does in production, so it is what the OpenSearch benchmark sends.

Usage: ecs_events.py INPUT OUTPUT
"""

import hashlib
import json
import sys


def shape(raw):
    ident = raw.get("userIdentity", {})
    parts = ["event", "aws.cloudtrail", raw.get("eventID", "")]
    event_id = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    user = ident.get("userName") or ident.get("principalId", "")
    return {
        "@timestamp": raw["eventTime"],
        "event": {
            "id": event_id,
            "kind": "event",
            "action": raw.get("eventName"),
            "outcome": "failure" if raw.get("errorCode") else "success",
            "dataset": "aws.cloudtrail",
            "module": "aws",
            "provider": raw.get("eventSource"),
        },
        "user": {"name": user, "id": ident.get("principalId")},
        "source": {"ip": raw.get("sourceIPAddress")},
        "user_agent": {"original": raw.get("userAgent")},
        "cloud": {
            "provider": "aws",
            "region": raw.get("awsRegion"),
            "account": {"id": raw.get("recipientAccountId")},
            "service": {"name": raw.get("eventSource", "").split(".")[0]},
        },
        "related": {"ip": [raw.get("sourceIPAddress")], "user": [user]},
        "entity": {"key": [f"user:{user}"], "kind": ["user"], "id": [user]},
        "pipectl": {"pipeline": "bench", "source": "input", "component": "input"},
        "aws": {"cloudtrail": raw},
    }


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as out:
        for line in f:
            if line.strip():
                out.write(json.dumps(shape(json.loads(line)), separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
