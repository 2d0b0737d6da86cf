"""The console's themes as data (dark, light, high contrast) and the path of its stylesheet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import App
from textual.theme import Theme

DEFAULT = "switchboard-dark"
STYLESHEET = Path(__file__).with_name("console.tcss")

THEMES: tuple[Theme, ...] = (
    Theme(
        name="switchboard-dark",
        primary="#4EA8DE",
        secondary="#7D8CC4",
        accent="#F2A541",
        warning="#F2C14E",
        error="#F25F5C",
        success="#5FBF77",
        foreground="#D8DEE9",
        background="#12161C",
        surface="#1A2028",
        panel="#232B36",
        dark=True,
    ),
    Theme(
        name="switchboard-light",
        primary="#1F5F99",
        secondary="#4B5AA8",
        accent="#B5620B",
        warning="#9A6700",
        error="#C0262D",
        success="#1F7A3A",
        foreground="#1B1F24",
        background="#F6F7F9",
        surface="#FFFFFF",
        panel="#E3E7ED",
        dark=False,
    ),
    # For glare, projectors and tired eyes: pure black and white, saturated signal colours.
    Theme(
        name="switchboard-high-contrast",
        primary="#FFFFFF",
        secondary="#00FFFF",
        accent="#FFFF00",
        warning="#FFFF00",
        error="#FF3030",
        success="#00FF00",
        foreground="#FFFFFF",
        background="#000000",
        surface="#000000",
        panel="#000000",
        dark=True,
        variables={
            "block-cursor-background": "#FFFF00",
            "block-cursor-foreground": "#000000",
            "block-cursor-blurred-background": "#FFFFFF 40%",
            "footer-key-foreground": "#FFFF00",
        },
    ),
)
NAMES: tuple[str, ...] = tuple(t.name for t in THEMES)


def register(app: App[Any]) -> None:
    for theme in THEMES:
        app.register_theme(theme)
