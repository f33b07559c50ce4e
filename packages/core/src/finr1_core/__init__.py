"""finr1-core: the small shared library of the finr1 pipeline (refs, schemas, config, runner, answers)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("finr1-core")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
