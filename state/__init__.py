"""The cluster model: pure data and functions, no I/O, no asyncio, no Textual."""
