"""Exceptions raised by the actor runtime.

```
Exception
└── ActorError                 base of everything below
    ├── ActorDeadError         the peer's mailbox is closed, or it died while handling your ask
    ├── NoSuchActorError       no mailbox with that name in the tree (also a LookupError)
    ├── AskTimeoutError        no reply within the ask timeout (also a TimeoutError)
    ├── StartTimeoutError      an actor did not declare started in time (also a TimeoutError)
    └── SupervisorGaveUpError  restart intensity exceeded; __cause__ is the last crash
```
"""

from __future__ import annotations

__all__ = [
    "ActorDeadError",
    "ActorError",
    "AskTimeoutError",
    "NoSuchActorError",
    "StartTimeoutError",
    "SupervisorGaveUpError",
]


class ActorError(Exception):
    """Base class of the runtime's errors."""


class ActorDeadError(ActorError):
    """The peer cannot take or answer the message: its mailbox closed or it crashed."""


class NoSuchActorError(ActorError, LookupError):
    """No actor with this name is registered in the supervision tree."""


class AskTimeoutError(ActorError, TimeoutError):
    """An ask got no reply within its timeout."""


class StartTimeoutError(ActorError, TimeoutError):
    """An actor did not call `ctx.started()` within its `start_timeout`: a crash at start."""


class SupervisorGaveUpError(ActorError):
    """A supervisor exceeded its restart intensity, stopped its children and gave up."""
