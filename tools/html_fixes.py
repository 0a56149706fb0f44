"""Sphinx extension: four repairs to the pages Jupyter Book 1 writes, found by the browser test.

* **A script included twice.** sphinx-thebe is set up twice (by Jupyter Book and
  by sphinx-book-theme), so every page carries its inline configuration script
  twice and the browser reports ``Identifier 'THEBE_JS_URL' has already been
  declared``. Identical script entries are kept once.
* **An empty colour mode.** pydata-sphinx-theme reads the reader's saved
  light/dark choice and falls back to the page context's ``default_mode``; left
  empty, a first visit logs ``Got invalid theme mode``. It is set to ``auto``
  (follow the reader's system setting): the figures are drawn on white cards,
  readable in both modes.
* **Two search boxes** on every page (see :func:`_one_search_box`).
* **A hover preview without its definition** for glossary terms with aliases
  (see :func:`_tip_for_every_alias`).
"""

from __future__ import annotations


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        # the same file or inline body, whatever priority each copy was registered with
        # (an inline script's filename is None or "", depending on who added it)
        key = (getattr(js, "filename", str(js)) or "",
               tuple(sorted((k, str(v)) for k, v in getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    scripts[:] = kept


def _tip_for_every_alias() -> None:
    """sphinx-tippy previews a glossary term with its ``<dd>`` only when the ``<dd>``
    follows that ``<dt>`` directly; an entry with aliases has several ``<dt>`` in a
    row, and hovering the first showed just its name. Skip the sibling ``<dt>``."""
    import sphinx_tippy

    def next_sibling_tag(tag):
        for sibling in tag.next_siblings:
            if getattr(sibling, "name", None) and not (tag.name == "dt" and sibling.name == "dt"):
                return sibling
        return None

    sphinx_tippy.next_sibling_tag = next_sibling_tag


def _one_search_box(app, pagename, templatename, context, doctree) -> None:
    # sphinx-book-theme leaves the navbar empty, but pydata-sphinx-theme (>= 0.16) fills its
    # "persistent" slot with a second search field, which draws an otherwise empty top bar.
    context["theme_navbar_persistent"] = []


def _default_mode(app, config) -> None:
    context = dict(config.html_context or {})
    context.setdefault("default_mode", "auto")
    config.html_context = context


def setup(app):
    _tip_for_every_alias()
    app.connect("config-inited", _default_mode, priority=900)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("html-page-context", _one_search_box, priority=900)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
