"""The ChatClient's real HTTP traffic, recorded by vcrpy against serve-sim and replayed with the network blocked.

openai 3.x sends through httpx2; vcrpy >= 9.2 patches httpx2's transports, so the cassette holds the
actual requests the SDK made.
"""

import socket

import pytest
import vcr

from taurl.llm.cache import CacheMode
from taurl.llm.client import ChatClient, RetryPolicy
from taurl.sim.server import SimServer

MESSAGES = [
    {
        "role": "system",
        "content": "<instruction>\nYour user id is mia_li_3668. You want to cancel reservation ABC123.\n</instruction>",
    },
    {"role": "user", "content": "Hi! How can I help you today?"},
]


def test_chat_client_traffic_replays_from_a_vcr_cassette_with_the_network_blocked(tmp_path, monkeypatch):
    cassette = tmp_path / "chat.yaml"
    recorder = vcr.VCR(record_mode="once", filter_headers=["authorization"], match_on=["method", "uri", "body"])
    with SimServer() as server:
        client = ChatClient("sim-user", server.base_url, mode=CacheMode.OFF, retry=RetryPolicy(attempts=1, timeout=5))
        with recorder.use_cassette(str(cassette)):
            live = client.complete(MESSAGES, namespace="user")
        base_url = server.base_url
    text = cassette.read_text()
    assert "/v1/chat/completions" in text and "mia_li_3668" in text
    assert "Bearer" not in text  # the API key header is filtered out of the cassette

    def refuse(self, address):
        raise AssertionError(f"network call attempted to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    replayer = vcr.VCR(record_mode="none", match_on=["method", "uri", "body"])
    offline = ChatClient("sim-user", base_url, mode=CacheMode.OFF, retry=RetryPolicy(attempts=1, timeout=5))
    with replayer.use_cassette(str(cassette)):
        replayed = offline.complete(MESSAGES, namespace="user")
        assert replayed.message == live.message
        with pytest.raises(Exception, match="(?i)cassette|can't overwrite|no match"):
            offline.complete([*MESSAGES, {"role": "assistant", "content": "unrecorded"}], namespace="user")
