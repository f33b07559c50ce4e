"""finr1-serve: a stage of the finr1 pipeline."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("finr1-serve")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
