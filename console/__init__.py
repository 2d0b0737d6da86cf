"""The Textual console: renders cluster snapshots and turns keys into intents."""
