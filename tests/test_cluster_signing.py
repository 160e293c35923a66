"""Signed node traffic: a genuine message verifies once; a bad MAC, another secret, a
stale or future timestamp and a replay are refused with a reason."""

from __future__ import annotations

import json

import pytest

from cluster import SignatureError, Signer

SECRET = b"a shared cluster secret"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_genuine_message_verifies_once_and_a_replay_is_refused() -> None:
    clock = Clock()
    a, b = Signer(SECRET, "node-a", clock=clock), Signer(SECRET, "node-b", clock=clock)
    message = a.sign({"topic": "direction.sent", "data": {"text": "x"}})
    envelope = b.verify(message)
    assert envelope.node_id == "node-a" and envelope.body["topic"] == "direction.sent"
    with pytest.raises(SignatureError, match="replayed"):
        b.verify(message)
    assert b.verify(message, fresh=False).node_id == "node-a"  # directory entries: re-read


def test_a_stale_or_future_timestamp_is_refused() -> None:
    clock = Clock()
    a, b = Signer(SECRET, "node-a", clock=clock), Signer(SECRET, "node-b", clock=clock)
    old = a.sign({"n": 1})
    clock.now += 31
    with pytest.raises(SignatureError, match="stale"):
        b.verify(old)
    clock.now -= 62
    with pytest.raises(SignatureError, match="stale"):
        b.verify(old)


def test_another_secret_or_an_edited_body_is_refused() -> None:
    b = Signer(SECRET, "node-b")
    with pytest.raises(SignatureError, match="bad signature"):
        b.verify(Signer(b"another secret", "node-a").sign({"n": 1}))
    message = json.loads(Signer(SECRET, "node-a").sign({"n": 1}))
    message["env"]["body"] = {"n": 2}
    with pytest.raises(SignatureError, match="bad signature"):
        b.verify(json.dumps(message))
    with pytest.raises(SignatureError, match="malformed"):
        b.verify("not json")
