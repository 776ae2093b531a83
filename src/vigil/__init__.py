"""vigil: an open platform for the technical work of a child-protection centre."""

__version__ = "0.1.0"
