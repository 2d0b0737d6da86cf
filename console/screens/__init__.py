"""Screens pushed over the dashboard: backend detail, help, plan confirmation, prompts."""
