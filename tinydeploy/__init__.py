"""tinydeploy: train, prune, quantize and deploy small CNNs to Cortex-M microcontrollers."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tinydeploy")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
