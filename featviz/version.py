"""The package's version: the one place it is written (``featviz.__version__``, records, the CLI)."""

__version__ = "0.2.0"
