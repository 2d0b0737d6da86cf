"""The lab's own error: bring-up or tear-down failed, with what to do about it."""

from __future__ import annotations

from switchboard.errors import SwitchboardError


class LabError(SwitchboardError):
    """The lab could not be brought up, checked or torn down."""
