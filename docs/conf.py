"""Sphinx configuration for the stable_rescue documentation (MyST Markdown sources)."""

from __future__ import annotations

project = "stable_rescue"
author = "stable_rescue contributors"
copyright = "stable_rescue contributors"

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Definition lists (term, then ": definition") for the CLI options.
myst_enable_extensions = ["deflist"]
# Heading anchors let pages link to each other's sections: [text](policy.md#boot-order).
myst_heading_anchors = 3

html_theme = "alabaster"
html_static_path: list[str] = []
