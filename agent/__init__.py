"""The festina runtime: event model, sources, pipeline and daemon."""

__version__ = "0.1.0"
