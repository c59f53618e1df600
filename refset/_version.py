"""The version of refset (one place; ``refset.__version__`` re-exports it)."""
__version__ = "0.1.0"
