"""The remote broker's live check in virtual time: down, hung, and back."""

from __future__ import annotations

import logging
from decimal import Decimal

import trio
import trio.testing

from actors import ChildSpec, Strategy, SupervisorSpec, open_supervisor
from finagent.domain.errors import BrokerUnavailable
from finagent.domain.orders import Account
from finagent.services.broker_probe import BrokerProbe

ACCOUNT = Account(Decimal(100_000), Decimal(100_000), Decimal(200_000), Decimal(100_000))


class ScriptedBroker:
    """Answers ``account()`` as the test says: ok, down (BrokerUnavailable) or hung."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.calls = 0

    async def account(self) -> Account:
        self.calls += 1
        if self.mode == "down":
            raise BrokerUnavailable("GET /v2/account: server_error 503 (outcome unknown)")
        if self.mode == "hung":
            await trio.sleep_forever()
        return ACCOUNT


async def test_the_check_follows_the_broker_down_and_back_with_one_line_each(
    autojump_clock: trio.testing.MockClock, caplog
) -> None:
    broker = ScriptedBroker()
    probe = BrokerProbe(broker, every_s=15.0)  # type: ignore[arg-type]
    assert probe.check() == "broker has not answered"  # before the first call
    spec = SupervisorSpec("root", [ChildSpec("broker_probe", probe.run)],
                          strategy=Strategy.ONE_FOR_ONE)  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="finagent.services.broker_probe"):
        async with open_supervisor(spec):
            assert probe.check() is None and broker.calls == 1  # probed before it declared
            broker.mode = "down"
            await trio.sleep(15.5)
            reason = "broker unreachable: GET /v2/account: server_error 503 (outcome unknown)"
            assert probe.check() == reason
            await trio.sleep(30)  # still down: no second line
            broker.mode = "ok"
            await trio.sleep(15)
            assert probe.check() is None
    assert [r.getMessage() for r in caplog.records] == [
        "broker unreachable: GET /v2/account: server_error 503 (outcome unknown) "
        "(not ready until it answers)",
        "broker reachable again",
    ]


async def test_a_hung_call_times_out_and_a_long_silence_fails_the_check(
    autojump_clock: trio.testing.MockClock,
) -> None:
    broker = ScriptedBroker()
    probe = BrokerProbe(broker, every_s=10.0)  # type: ignore[arg-type]
    await probe.probe()
    assert probe.check() is None
    broker.mode = "hung"
    await probe.probe()  # gives up after one beat instead of hanging the actor
    assert probe.check() == "broker unreachable: TooSlowError"
    broker.mode = "ok"
    await probe.probe()
    await trio.sleep(31)  # no call for more than three beats: not trusted any more
    assert probe.check() == "broker has not answered"
