"""Sphinx extension: the HTML book serves its own MathJax, tippy.js and Popper.

By default a Sphinx page loads MathJax from a CDN and sphinx-tippy loads its
two scripts from unpkg, so a reader offline (a train, a firewall, a classroom)
would see raw LaTeX and no hover previews. Here the three come from the npm
packages pinned in ``package.json`` / ``package-lock.json`` (``make html`` runs
``npm ci``): at ``config-inited`` this extension copies the files the pages need
from ``node_modules`` into ``_build/offline-assets/vendor/``, adds that folder to
``html_static_path`` and points ``mathjax_path`` and ``tippy_js`` at the copies.
Nothing is copied by hand into the repository, and no page requests anything
off the machine (the browser test, ``tests/test_site.py``, checks that).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.errors import ExtensionError

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"

#: (path inside node_modules, name under _static/vendor/)
ASSETS = (
    ("mathjax/es5", "mathjax"),                          # the whole es5 tree: fonts and extensions load lazily
    ("@popperjs/core/dist/umd/popper.min.js", "popper.min.js"),
    ("tippy.js/dist/tippy-bundle.umd.min.js", "tippy-bundle.umd.min.js"),
)
MATHJAX_ENTRY = "vendor/mathjax/tex-chtml.js"
TIPPY_JS = ("vendor/popper.min.js", "vendor/tippy-bundle.umd.min.js")


def copy_assets(target: Path) -> None:
    """Copy every asset from node_modules into ``target``/vendor; a clear error if npm ci was not run."""
    missing = [src for src, _ in ASSETS if not (NODE_MODULES / src).exists()]
    if missing:
        raise ExtensionError(
            f"offline assets missing from {NODE_MODULES}: {missing}. Run `npm ci` in the repository "
            "(make html does) to install the versions pinned in package-lock.json.")
    vendor = target / "vendor"
    if vendor.exists():
        shutil.rmtree(vendor)
    vendor.mkdir(parents=True)
    for src, dest in ASSETS:
        path = NODE_MODULES / src
        if path.is_dir():
            shutil.copytree(path, vendor / dest)
        else:
            shutil.copy2(path, vendor / dest)


def _configure(app, config) -> None:
    staging = Path(app.outdir).parent / "offline-assets"
    copy_assets(staging)
    config.html_static_path = [*config.html_static_path, str(staging)]
    config.mathjax_path = MATHJAX_ENTRY
    config.tippy_js = TIPPY_JS


def setup(app):
    app.connect("config-inited", _configure, priority=900)   # after sphinx-tippy registered its options
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
