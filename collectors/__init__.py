"""Collectors: supervised SSH sessions to every host and the readers that turn them into events."""
