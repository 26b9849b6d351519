"""finagent: an intraday gap-trading agent run as a supervised Trio daemon."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("finagent")
except PackageNotFoundError:  # pragma: no cover - only when run from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
