"""Fixtures for the actor runtime tests."""

import pytest

from actors.testing import RecordingObserver


@pytest.fixture
def observer() -> RecordingObserver:
    return RecordingObserver()
