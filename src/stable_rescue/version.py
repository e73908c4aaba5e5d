"""The package's version: the same as ``pyproject.toml``'s (tests/test_cli_edges.py checks it).

A constant, not ``importlib.metadata``: reading the metadata costs a CLI start about 20 ms, more
than a whole rescue.
"""

__version__ = "0.1.0"
