"""Structured logging: JSON lines, context propagation, console format, secret redaction."""

from __future__ import annotations

import io
import json
import logging
import uuid
from datetime import UTC, datetime

import pytest
import trio

from finagent.observability.logs import (
    REDACTED,
    ContextFilter,
    RedactingFilter,
    SecretRegistry,
    configure_logging,
    current_log_context,
    log_context,
    register_secret,
)

log = logging.getLogger("finagent.test")


@pytest.fixture(autouse=True)
def _restore_root_logger():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_json_line_has_utc_timestamp_level_logger_and_message():
    out = io.StringIO()
    configure_logging("json", "INFO", out)
    log.info("scan done in %d ms", 12)
    (line,) = _json_lines(out)
    assert list(line)[:4] == ["timestamp", "level", "logger", "message"]
    assert line["level"] == "INFO"
    assert line["logger"] == "finagent.test"
    assert line["message"] == "scan done in 12 ms"
    assert line["timestamp"].endswith("Z")
    stamp = datetime.fromisoformat(line["timestamp"])
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60


def test_each_record_is_exactly_one_line_even_with_a_traceback():
    out = io.StringIO()
    configure_logging("json", "INFO", out)
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        log.exception("failed")
    (line,) = _json_lines(out)
    assert "RuntimeError: boom" in line["exc_info"]


def test_level_filters_lower_records():
    out = io.StringIO()
    configure_logging("json", "warning", out)
    log.info("hidden")
    log.warning("shown")
    assert [line["message"] for line in _json_lines(out)] == ["shown"]


def test_context_fields_appear_and_nest_and_reset():
    out = io.StringIO()
    configure_logging("json", "DEBUG", out)
    with log_context(actor="scanner"):
        with log_context(job_id=7, job_type="scan", attempt=2):
            log.info("inner")
        log.info("outer")
    log.info("none")
    inner, outer, none = _json_lines(out)
    expected = {"actor": "scanner", "job_id": 7, "job_type": "scan", "attempt": 2}
    assert {k: inner[k] for k in expected} == expected
    assert outer["actor"] == "scanner" and "job_id" not in outer
    assert not {"actor", "job_id", "job_type", "attempt"} & set(none)
    assert current_log_context() == {}


def test_explicit_extra_wins_over_context():
    out = io.StringIO()
    configure_logging("json", "INFO", out)
    with log_context(symbol="AAPL"):
        log.info("fill", extra={"symbol": "MSFT"})
    assert _json_lines(out)[0]["symbol"] == "MSFT"


async def test_context_flows_into_child_tasks_and_worker_threads():
    out = io.StringIO()
    configure_logging("json", "INFO", out)

    async def child() -> None:
        log.info("in child task")

    with log_context(job_id=42):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(child)
        await trio.to_thread.run_sync(lambda: log.info("in thread"))
    assert [line.get("job_id") for line in _json_lines(out)] == [42, 42]


def test_console_format_shows_context_as_key_values():
    out = io.StringIO()
    configure_logging("console", "INFO", out)
    with log_context(job_id=3, symbol="TSLA"):
        log.warning("gap too small")
    line = out.getvalue().rstrip("\n")
    assert "\n" not in line
    assert "WARNING" in line and "finagent.test: gap too small" in line
    assert line.endswith("job_id=3 symbol=TSLA")
    datetime.fromisoformat(line.split()[0])


def test_console_format_puts_context_on_the_first_line_of_a_traceback():
    out = io.StringIO()
    configure_logging("console", "INFO", out)
    with log_context(actor="risk"):
        try:
            raise ValueError("bad plan")
        except ValueError:
            log.exception("crashed")
    first, *rest = out.getvalue().splitlines()
    assert first.endswith("crashed actor=risk")
    assert rest[-1] == "ValueError: bad plan"


def test_auto_is_json_off_a_tty_and_console_on_one():
    plain, tty = io.StringIO(), _Tty()
    configure_logging("auto", "INFO", plain)
    log.info("hello")
    assert json.loads(plain.getvalue())["message"] == "hello"
    configure_logging("auto", "INFO", tty)
    log.info("hello")
    assert tty.getvalue().rstrip().endswith("finagent.test: hello")


def test_reconfiguring_replaces_the_handler_instead_of_adding_one():
    first, second = io.StringIO(), io.StringIO()
    configure_logging("json", "INFO", first)
    configure_logging("json", "INFO", second)
    log.info("once")
    assert first.getvalue() == ""
    assert len(_json_lines(second)) == 1


def test_default_stream_is_stdout(capsys):
    configure_logging("json", "INFO")
    log.info("to stdout")
    assert json.loads(capsys.readouterr().out)["message"] == "to stdout"


@pytest.mark.parametrize(("fmt", "level"), [("xml", "INFO"), ("json", "LOUD")])
def test_unknown_format_or_level_is_rejected(fmt, level):
    with pytest.raises(ValueError, match="unknown log"):
        configure_logging(fmt, level, io.StringIO())


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_registered_secret_never_reaches_a_log_line(fmt):
    canary = f"canary-{uuid.uuid4().hex}"
    quoted = f'q"uo\\te-{uuid.uuid4().hex}'  # survives JSON escaping only if redacted first
    register_secret(canary)
    register_secret(quoted)
    out = io.StringIO()
    configure_logging(fmt, "DEBUG", out)
    log.info("key is %s", canary)
    log.info(f"inline {canary} and {quoted}")
    log.info("extra", extra={"url": f"https://user:{canary}@host"})
    with log_context(symbol=canary):
        log.info("context")
    try:
        raise PermissionError(f"rejected key {canary}")
    except PermissionError:
        log.exception("auth failed")
    log.info("stack", stack_info=True, extra={"note": canary})
    text = out.getvalue()
    assert canary not in text
    assert quoted not in text and json.dumps(quoted)[1:-1] not in text
    assert text.count(REDACTED) >= 7


def test_empty_secret_is_ignored_and_longest_secret_wins():
    secrets = SecretRegistry()
    assert not secrets
    secrets.add("")
    assert not secrets
    secrets.add("abc")
    secrets.add("abcdef")
    assert secrets.scrub("x abcdef y abc") == f"x {REDACTED} y {REDACTED}"


def test_redacting_filter_without_secrets_leaves_the_record_alone():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "a %s", ("b",), None)
    assert RedactingFilter(SecretRegistry()).filter(record)
    assert record.msg == "a %s" and record.args == ("b",)


def test_redacting_filter_scrubs_a_preformatted_exc_text():
    secrets = SecretRegistry()
    secrets.add("hunter2")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "m", None, None)
    record.exc_text = "Traceback: hunter2"
    RedactingFilter(secrets).filter(record)
    assert record.exc_text == f"Traceback: {REDACTED}"


def test_context_filter_never_drops_records():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    with log_context(attempt=1):
        assert ContextFilter().filter(record)
    assert record.attempt == 1
