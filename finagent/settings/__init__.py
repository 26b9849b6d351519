"""Layered settings: embedded defaults < settings.yaml < env (FINAGENT_…) < CLI flags.

The only package that reads the process environment: :mod:`.model` holds the sections and their
defaults, :mod:`.loading` builds them from the layers and explains what is wrong in one line.
"""

from finagent.settings.loading import ConfigError, LoadedSettings, load_settings, redacted_dump
from finagent.settings.model import Settings

__all__ = ["ConfigError", "LoadedSettings", "Settings", "load_settings", "redacted_dump"]
