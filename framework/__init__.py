"""sesplan planning framework: system description, model, solution methods, results."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sesplan")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
