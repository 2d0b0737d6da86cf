"""Shows a plan and asks to confirm it; a risky plan needs the target's name typed out."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from console.feed import PlanPreview


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses with True only on an explicit yes (and, when risky, the exact name typed)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("n", "cancel", "No", show=False),
        Binding("y", "confirm", "Yes", show=False),
    ]

    def __init__(self, plan: PlanPreview, confirm_word: str | None) -> None:
        super().__init__()
        self.plan = plan
        self.confirm_word = confirm_word

    def compose(self) -> ComposeResult:
        risky = self.confirm_word is not None
        with Vertical(id="confirm-box", classes="-risky" if risky else "") as box:
            box.border_title = ("RISKY: " if risky else "") + self.plan.title
            box.border_subtitle = "esc to cancel"
            with VerticalScroll(id="plan"):
                yield Static(self.plan, id="plan-text")
            if risky:
                yield Label(f"Type [b]{self.confirm_word}[/b] and press enter to go ahead.",
                            id="confirm-hint")
                yield Input(placeholder="type the name here", id="confirm-input")
            else:
                yield Label("Apply this plan? [b]y[/b] yes · [b]n[/b] no", id="confirm-hint")
            with Horizontal(id="confirm-buttons"):
                yield Button("Apply", id="apply", variant="error" if risky else "primary",
                             disabled=risky)
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        if self.confirm_word is not None:
            self.query_one("#confirm-input", Input).focus()
        else:
            self.query_one("#cancel", Button).focus()

    def _typed_ok(self) -> bool:
        if self.confirm_word is None:
            return True
        return self.query_one("#confirm-input", Input).value.strip() == self.confirm_word

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#apply", Button).disabled = not self._typed_ok()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._typed_ok():
            self.dismiss(True)
        else:
            self.notify(f"type {self.confirm_word} exactly, or press esc", severity="warning")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "apply" and self._typed_ok():
            self.dismiss(True)
        elif event.button.id == "cancel":
            self.dismiss(False)

    def action_confirm(self) -> None:
        # A risky plan is never confirmed by a single key, only by typing the name.
        if self.confirm_word is None:
            self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
