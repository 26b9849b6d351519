"""The Apprise sender against a real webhook on 127.0.0.1: delivered, transient, permanent."""

from __future__ import annotations

import pytest

from finagent.adapters.notify.apprise_sender import AppriseSender, secret_parts
from finagent.domain.errors import ConfigError, NotifyError, NotifyRejected
from finagent.domain.notify import Level
from tests.notify_receiver import open_receiver

CANARY = "CANARYtoken4711secret"


async def test_a_message_reaches_the_webhook_with_its_title_and_body() -> None:
    with open_receiver() as rx:
        sender = AppriseSender({"hook": rx.url()})
        assert sender.names() == ("hook",)
        await sender.send("hook", "AAPL: buy 10 filled at 101.5", "cid-1", Level.WARNING)
    assert rx.delivered[0]["title"] == "AAPL: buy 10 filled at 101.5"
    assert rx.delivered[0]["message"] == "cid-1"
    assert rx.delivered[0]["type"] == "warning"


async def test_a_5xx_is_transient_and_a_4xx_permanent_and_neither_names_the_url() -> None:
    with open_receiver([500, 400, 429]) as rx:
        sender = AppriseSender({"hook": rx.url(f"hook?token={CANARY}")})
        with pytest.raises(NotifyError) as transient:
            await sender.send("hook", "t", "", Level.CRITICAL)
        assert not isinstance(transient.value, NotifyRejected)
        with pytest.raises(NotifyRejected) as permanent:
            await sender.send("hook", "t", "", Level.INFO)
        with pytest.raises(NotifyError) as limited:  # 429: rate limited, try again later
            await sender.send("hook", "t", "", Level.INFO)
    assert str(transient.value) == "destination hook: not delivered (HTTP 500)"
    assert str(permanent.value) == "destination hook: refused (HTTP 400)"
    assert not isinstance(limited.value, NotifyRejected)
    assert CANARY not in f"{transient.value}{permanent.value}{limited.value}"


async def test_no_answer_is_transient_and_an_unknown_name_permanent() -> None:
    with open_receiver() as rx:
        port = rx.port
    sender = AppriseSender({"gone": f"json://127.0.0.1:{port}/hook"})  # nothing listens now
    with pytest.raises(NotifyError, match=r"destination gone: not delivered \(no answer\)"):
        await sender.send("gone", "t", "b", Level.INFO)
    with pytest.raises(NotifyRejected, match="destination nope: not configured"):
        await sender.send("nope", "t", "b", Level.INFO)


async def test_a_destination_that_hangs_times_out() -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()  # accepts, never answers
    try:
        port = listener.getsockname()[1]
        sender = AppriseSender({"slow": f"json://127.0.0.1:{port}/h"}, timeout_s=0.2)
        with pytest.raises(NotifyError, match=r"no answer within 0\.2 s"):
            await sender.send("slow", "t", "b", Level.INFO)
    finally:
        listener.close()


def test_a_url_apprise_cannot_use_is_a_config_error_without_the_url() -> None:
    with pytest.raises(ConfigError) as err:
        AppriseSender({"bad": f"nosuchscheme://{CANARY}"})
    assert "notify.destinations.bad.url" in str(err.value)
    assert CANARY not in str(err.value)


def test_secret_parts_cover_tokens_in_the_host_path_and_query() -> None:
    assert CANARY in secret_parts(f"tgram://{CANARY}/12345")
    assert CANARY in secret_parts(f"json://127.0.0.1:80/{CANARY}")
    assert CANARY in secret_parts(f"json://127.0.0.1:80/h?token={CANARY}")
    assert CANARY in secret_parts(f"mailto://user:{CANARY}@example.com")
    assert "127.0.0.1:80" not in secret_parts("json://127.0.0.1:80/h")
