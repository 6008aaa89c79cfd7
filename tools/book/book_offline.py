"""Sphinx extension for the course book: pages that load nothing they do not use.

Jupyter Book 1 always loads sphinx-thebe, which declares the address of its live-code bundle (a
CDN) on every page, twice (a script error in the browser), although the book has no live-code
button. This drops those scripts and the thebe stylesheet from every page. It also starts a first
visit in the light colour mode (figures are drawn on white), which the theme would otherwise reach
only after logging an error about the missing stored choice.
"""
from __future__ import annotations


def _is_thebe(asset) -> bool:
    name = str(getattr(asset, "filename", asset) or "")
    body = str(getattr(asset, "attributes", {}).get("body", ""))
    return "thebe" in name or "THEBE_JS_URL" in body


def drop_thebe(app, pagename, templatename, context, doctree):
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [a for a in context[key] if not _is_thebe(a)]


FIRST_VISIT_MODE = 'if (!document.documentElement.dataset.mode) { document.documentElement.dataset.mode = "light"; }'


def setup(app):
    app.add_js_file(None, body=FIRST_VISIT_MODE)
    app.connect("html-page-context", drop_thebe, priority=900)  # after the themes add theirs
    return {"parallel_read_safe": True, "parallel_write_safe": True}
