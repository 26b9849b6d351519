"""A small actor runtime on Trio: bounded mailboxes, ask, OTP-style supervisors, observer hook.

Generic: it knows nothing about trading and never imports `finagent`. See docs/actors.md.
"""

from actors.actor import ActorContext, Registry
from actors.ask import DEFAULT_ASK_TIMEOUT, ReplyTo
from actors.errors import (
    ActorDeadError,
    ActorError,
    AskTimeoutError,
    NoSuchActorError,
    StartTimeoutError,
    SupervisorGaveUpError,
)
from actors.events import (
    ActorExited,
    ActorRestarted,
    ActorStarted,
    ExitReason,
    LifecycleEvent,
    LoopLag,
    NullObserver,
    Observer,
    SupervisorEscalated,
    SupervisorGaveUp,
)
from actors.mailbox import Inbox, Mailbox
from actors.spec import Backoff, ChildSpec, Restart, Strategy, SupervisorSpec
from actors.supervisor import Supervisor, open_supervisor, run_supervisor
from actors.watchdog import run_watchdog, watchdog_factory

__all__ = [
    "DEFAULT_ASK_TIMEOUT",
    "ActorContext",
    "ActorDeadError",
    "ActorError",
    "ActorExited",
    "ActorRestarted",
    "ActorStarted",
    "AskTimeoutError",
    "Backoff",
    "ChildSpec",
    "ExitReason",
    "Inbox",
    "LifecycleEvent",
    "LoopLag",
    "Mailbox",
    "NoSuchActorError",
    "NullObserver",
    "Observer",
    "Registry",
    "ReplyTo",
    "Restart",
    "StartTimeoutError",
    "Strategy",
    "Supervisor",
    "SupervisorEscalated",
    "SupervisorGaveUp",
    "SupervisorGaveUpError",
    "SupervisorSpec",
    "open_supervisor",
    "run_supervisor",
    "run_watchdog",
    "watchdog_factory",
]
