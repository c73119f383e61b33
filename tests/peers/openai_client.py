"""Drives the sluice AI gateway with the official `openai` Python client.

Used by tests/ai_openai_client.rs: the Rust test starts the stack, runs this
script with the venv's Python, and asserts on the one JSON object it prints.
The script only observes (content, chunk arrival times, exception classes
and statuses); every judgement is made in Rust, so a failing run shows the
raw observations.

Usage: openai_client.py BASE_URL OPENAI_API_KEY_ENV_NAME EVENTS DELAY_MS OVERSIZE_BYTES

The client key is read from the environment variable named by the second
argument, so it never appears on a command line.
"""

import json
import os
import sys
import time

import openai


def error_of(exc):
    """What the client made of a failed request."""
    body = exc.body if isinstance(exc, openai.APIStatusError) else None
    return {
        "class": type(exc).__name__,
        "status": getattr(exc, "status_code", None),
        # `body` is the parsed `error` object of an OpenAI-style response.
        "body": body,
        "message": str(exc),
    }


def expect_error(call):
    try:
        call()
    except openai.APIError as exc:
        return error_of(exc)
    return {"class": None, "status": None, "body": None, "message": "no error raised"}


def main():
    base_url, key_env, events, delay_ms, oversize = sys.argv[1:6]
    key = os.environ[key_env]
    messages = [{"role": "user", "content": "say hi to the edge"}]
    # No retries: a retried 5xx would hide the status the edge returned.
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=60)

    started = time.monotonic()
    stream = client.chat.completions.create(
        model="mock-gpt",
        messages=messages,
        stream=True,
        extra_headers={"x-mock-events": events, "x-mock-delay-ms": delay_ms},
    )
    chunks = []
    for chunk in stream:
        at_ms = (time.monotonic() - started) * 1000.0
        content = chunk.choices[0].delta.content if chunk.choices else None
        chunks.append({"at_ms": at_ms, "content": content, "usage": chunk.usage is not None})

    bad_key = openai.OpenAI(base_url=base_url, api_key="sk-not-a-client-key", max_retries=0)
    auth = expect_error(
        lambda: bad_key.chat.completions.create(model="mock-gpt", messages=messages)
    )
    # A body the edge must refuse: `model` is not a string.
    bad_field = expect_error(
        lambda: client.chat.completions.create(model=123, messages=messages, stream=True)
    )
    # Bytes that are not JSON at all, through the client's own transport.
    bad_json = expect_error(
        lambda: client.post(
            "/chat/completions",
            cast_to=object,
            content=b"{not json",
            options={"headers": {"content-type": "application/json"}},
        )
    )
    too_big = expect_error(
        lambda: client.chat.completions.create(
            model="mock-gpt",
            messages=[{"role": "user", "content": "x" * int(oversize)}],
            stream=True,
        )
    )
    print(
        json.dumps(
            {
                "openai_version": openai.__version__,
                "chunks": chunks,
                "auth": auth,
                "bad_field": bad_field,
                "bad_json": bad_json,
                "too_big": too_big,
            }
        )
    )


if __name__ == "__main__":
    main()
