"""Switchboard: a terminal operator console for highly-available nginx clusters."""

__version__ = "0.1.0"
