"""finr1-pipeline: run the finr1 stages in order as local processes, single containers or compose services."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("finr1-pipeline")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
