"""Jinja2 templates and the stylesheet of the report (package data, so they install with bench)."""

from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parent
