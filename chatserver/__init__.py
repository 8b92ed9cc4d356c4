"""chatserver: real-time group chat for peer-support rooms."""

__version__ = "0.1.0"
