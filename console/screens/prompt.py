"""A one-field prompt for a number (the weight), validated before it is accepted."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.validation import Number
from textual.widgets import Input, Label

WEIGHT_MIN = 1
WEIGHT_MAX = 1000


class NumberPrompt(ModalScreen[int | None]):
    """Returns the number typed, or None on escape."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", show=False)]

    def __init__(self, question: str, current: int | None, low: int = WEIGHT_MIN,
                 high: int = WEIGHT_MAX) -> None:
        super().__init__()
        self.question = question
        self.current = current
        self.low = low
        self.high = high

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box") as box:
            box.border_title = self.question
            box.border_subtitle = "enter to accept · esc to cancel"
            yield Label(f"A whole number from {self.low} to {self.high}"
                        + (f" (now {self.current})" if self.current is not None else ""))
            yield Input(
                value="" if self.current is None else str(self.current),
                type="integer",
                validators=[Number(minimum=self.low, maximum=self.high)],
                id="prompt-input",
            )
            yield Label("", id="prompt-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        result = event.validation_result
        if result is not None and not result.is_valid:
            self.query_one("#prompt-error", Label).update(
                "; ".join(result.failure_descriptions))
            return
        try:
            self.dismiss(int(event.value))
        except ValueError:
            self.query_one("#prompt-error", Label).update("type a whole number")

    def action_cancel(self) -> None:
        self.dismiss(None)
