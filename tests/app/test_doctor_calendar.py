"""``doctor``'s calendar check when the local exchange calendar has no upcoming session."""

from __future__ import annotations

from datetime import UTC, date, datetime

import httpx

from finagent.adapters.alpaca.http import alpaca_headers
from finagent.app.doctor import run_checks
from finagent.domain.schedule import ClosedDay, Session
from tests.fakes.alpaca import FakeAlpacaState, running_fake_alpaca


class _EndedCalendar:
    """An exchange calendar whose data ends before today: no session ahead."""

    name = "ENDED"
    timezone = "America/New_York"

    def sessions(self, start: date, end: date) -> list[Session]:
        return []

    def closed_days(self, start: date, end: date) -> list[ClosedDay]:
        return []


async def test_no_upcoming_local_session_fails_the_check_without_asking_alpaca() -> None:
    state = FakeAlpacaState()
    with running_fake_alpaca(state) as url:
        headers = alpaca_headers(state.key_id, state.secret_key)
        async with httpx.AsyncClient(base_url=url, headers=headers) as client:
            checks = await run_checks(
                client, client, calendar=_EndedCalendar(), now=lambda: datetime.now(UTC),
                market=False,
            )  # fmt: skip
    verdicts = {c.name: (c.ok, c.detail) for c in checks}
    assert verdicts["calendar"] == (False, "the local calendar has no upcoming sessions")
    assert verdicts["account"][0] and verdicts["clock"][0]
    paths = {path for _, path in state.requests}
    assert "/v2/account" in paths and "/v2/calendar" not in paths
