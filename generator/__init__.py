"""reclaim: idle AWS resources become reviewed, reversible pull requests."""

__version__ = "0.1.0"
