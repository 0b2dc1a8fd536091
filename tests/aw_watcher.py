"""Plays an ActivityWatch watcher: run with the aw-client venv's Python, not festina's.

Reads a JSON object from stdin, {"port": int, "buckets": [{"id", "type", "events":
[{"timestamp": ISO, "data": {...}}], "mode": "heartbeat" | "insert"}]}, and writes the
events the way watchers do (heartbeats merge repeats), then prints the bucket ids.
"""

import json
import sys
from datetime import datetime

from aw_client import ActivityWatchClient
from aw_core.models import Event


def main() -> None:
    job = json.load(sys.stdin)
    client = ActivityWatchClient("festina-test-watcher", testing=True, port=job["port"])
    for bucket in job["buckets"]:
        client.create_bucket(bucket["id"], bucket["type"], queued=False)
        events = [
            Event(timestamp=datetime.fromisoformat(e["timestamp"]), data=e["data"])
            for e in bucket["events"]
        ]
        if bucket.get("mode", "heartbeat") == "insert":
            client.insert_events(bucket["id"], events)
        else:
            for event in events:
                client.heartbeat(bucket["id"], event, pulsetime=bucket.get("pulsetime", 5.0))
    print(json.dumps([bucket["id"] for bucket in job["buckets"]]))


if __name__ == "__main__":
    main()
