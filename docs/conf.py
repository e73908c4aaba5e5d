"""Sphinx configuration for the stable_rescue documentation (MyST Markdown sources)."""

from __future__ import annotations

project = "stable_rescue"
author = "stable_rescue contributors"
copyright = "stable_rescue contributors"

# autodoc: docs/api.md is generated from the docstrings of the installed package.
extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Definition lists (term, then ": definition") for the CLI options.
myst_enable_extensions = ["deflist"]
# Heading anchors let pages link to each other's sections: [text](policy.md#boot-order).
myst_heading_anchors = 3

# Signatures as written in the source (``str | None``), members in the order the source gives.
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
autodoc_preserve_defaults = True

html_theme = "alabaster"
html_static_path: list[str] = []
