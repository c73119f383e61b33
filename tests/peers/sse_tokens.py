"""Consume an SSE stream with the sseclient-py package (a real client).

Usage: sse_tokens.py URL TIMEOUT_SECONDS

Prints a JSON array of [event, data] pairs, one per event, after the stream
ends; "message" is the default event type. Used by tests/plans.rs.
"""

import json
import sys
import urllib.request

import sseclient


def main() -> int:
    url, timeout = sys.argv[1], float(sys.argv[2])
    req = urllib.request.Request(url, headers={"Accept": "text/event-stream"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        client = sseclient.SSEClient(resp)
        events = [[event.event, event.data] for event in client.events()]
    json.dump(events, sys.stdout, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
