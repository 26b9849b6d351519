"""Notification senders: :mod:`.apprise_sender` delivers through the ``apprise`` library."""
