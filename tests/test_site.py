"""The built HTML book, opened page by page in headless Chromium, as a reader offline sees it.

``.ci/run`` builds the book (``make html``) before ``make test``; this module serves
``_build/html`` on a loopback port and drives Debian's Chromium with
Playwright. Every request that would leave loopback is aborted and recorded,
so a page that needs the network fails here. Checked on every page: no
console errors, no failed or off-machine requests, math typeset (and no raw
``$$``/``\\begin`` left), every image loaded. Then: each ``to_jshtml``
animation plays, every internal link and anchor resolves, glossary links land
on their entry and show their definition on hover, the search finds a
glossary term, and the Colab and download buttons point at the page's own
notebook. A few screenshots are kept in ``_build/screenshots/``.

Without Chromium (``/usr/bin/chromium``) or a built book the module is skipped,
unless ``BOOK_REQUIRE_BROWSER=1`` (set by ``.ci/run``), which makes that a failure.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import pytest

from nbtools import ROOT, notebooks, repository_url

SITE = ROOT / "_build" / "html"
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "_build" / "screenshots"
REQUIRED = os.environ.get("BOOK_REQUIRE_BROWSER") == "1"


def _unavailable() -> str | None:
    if not (SITE / "index.html").is_file():
        return f"no built book at {SITE} (run make html)"
    if not CHROMIUM.is_file():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    return None


_reason = _unavailable()
if _reason and REQUIRED:
    raise RuntimeError(f"BOOK_REQUIRE_BROWSER=1 but the browser test cannot run: {_reason}")
pytestmark = pytest.mark.skipif(_reason is not None, reason=_reason or "")

PAGES = sorted(p.relative_to(SITE).as_posix() for p in SITE.rglob("*.html")
               if not p.relative_to(SITE).as_posix().startswith(("_static/", "_sources/", "_images/")))
CHAPTERS = {str(p.relative_to(ROOT).with_suffix(".html")) for p in notebooks()}
LAUNCH_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_FLAGS)
        yield b
        b.close()


def _source(url: str) -> str:
    """The file behind a page of the local server."""
    path = SITE / unquote(urlparse(url).path).lstrip("/")
    return path.read_text(encoding="utf-8") if path.is_file() else ""


class Visit:
    """One page opened in a fresh context, with every problem the browser saw."""

    def __init__(self, browser, url: str):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.console_errors, self.failed, self.off_machine = [], [], []
        host = urlparse(url).netloc

        def route(r):
            if urlparse(r.request.url).netloc == host or r.request.url.startswith(("data:", "blob:")):
                r.continue_()
            else:
                self.off_machine.append(r.request.url)
                r.abort()

        self.page.route("**/*", route)
        self.page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.url} ({r.failure})")
                     if r.url not in self.off_machine else None)
        forward = re.search(r'http-equiv="Refresh" content="0; url=([^"]+)"', _source(url))
        if forward:                                  # index.html forwards to the book's first page
            with self.page.expect_navigation(url=urljoin(url, forward.group(1)), wait_until="load"):
                self.page.goto(url)
        else:
            self.page.goto(url, wait_until="load")

    def close(self):
        self.context.close()


MATH_DONE = """() => new Promise(resolve => {
  if (!window.MathJax || !MathJax.startup) { resolve(-1); return; }
  MathJax.startup.promise.then(() => resolve(document.querySelectorAll('mjx-container').length));
})"""

RAW_TEX = """() => {
  const walker = document.createTreeWalker(document.querySelector('main') || document.body, NodeFilter.SHOW_TEXT);
  const hits = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.parentElement.closest('pre, code, script, style, mjx-container, .highlight, .output')) continue;
    const t = n.textContent;
    if (t.includes('$$') || /\\\\begin\\{|\\\\frac\\{|\\\\mathbf\\{/.test(t)) hits.push(t.trim().slice(0, 80));
  }
  return hits;
}"""

IMAGES = """() => Array.from(document.images)
  .filter(i => !(i.complete && i.naturalWidth > 0) && getComputedStyle(i).display !== 'none')
  .map(i => i.getAttribute('src').slice(0, 80))"""


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_offline(browser, server, page):
    v = Visit(browser, server + page)
    try:
        has_math = bool(v.page.query_selector(".math, span.math, div.math"))
        typeset = v.page.evaluate(MATH_DONE)
        v.page.wait_for_load_state("networkidle")
        raw = v.page.evaluate(RAW_TEX)
        broken = v.page.evaluate(IMAGES)
        if page in ("part2_pipeline/ch05_inference.html", "index.html", "glossary/index.html"):
            SHOTS.mkdir(parents=True, exist_ok=True)
            v.page.screenshot(path=str(SHOTS / (page.replace("/", "__") + ".png")), full_page=False)
    finally:
        v.close()
    assert not v.off_machine, f"{page} requests resources off this machine: {v.off_machine[:5]}"
    assert not v.failed, f"{page}: failed requests {v.failed[:5]}"
    assert not v.console_errors, f"{page}: console errors {v.console_errors[:5]}"
    if has_math:
        assert typeset > 0, f"{page} has math but MathJax typeset nothing (MathJax loaded: {typeset != -1})"
    assert not raw, f"{page} shows raw LaTeX: {raw[:3]}"
    assert not broken, f"{page}: images that did not load: {broken}"


def _animated_pages() -> list[str]:
    return [p for p in PAGES if "play_animation()" in (SITE / p).read_text(encoding="utf-8")]


@pytest.mark.parametrize("page", _animated_pages())
def test_animations_play(browser, server, page):
    v = Visit(browser, server + page)
    try:
        ids = v.page.eval_on_selector_all("img[id^='_anim_img']", "els => els.map(e => e.id)")
        assert ids, f"{page}: no animation frames found"
        for img_id in ids:
            anim = img_id.replace("_anim_img", "anim")
            v.page.evaluate(f"{anim}.pause_animation(); {anim}.first_frame()")
            first = v.page.get_attribute(f"#{img_id}", "src")
            v.page.click(f"button[onclick='{anim}.play_animation()']")
            v.page.wait_for_function(f"document.getElementById('{img_id}').src !== {first!r}", timeout=10_000)
            v.page.evaluate(f"{anim}.pause_animation()")
    finally:
        v.close()


def _links(page: str):
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((SITE / page).read_text(encoding="utf-8"), "html.parser")
    return soup, [a["href"] for a in soup.select("a[href]")]


@functools.cache
def _ids(page: str) -> frozenset[str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((SITE / page).read_text(encoding="utf-8"), "html.parser")
    return frozenset(t["id"] for t in soup.select("[id]"))


def test_every_internal_link_and_anchor_resolves():
    broken = []
    for page in PAGES:
        _, hrefs = _links(page)
        for href in hrefs:
            if urlparse(href).scheme or href.startswith(("mailto:", "javascript:")):
                continue
            target, anchor = urldefrag(urljoin(page, href))
            target = unquote(target) or page
            if not (SITE / target).exists():
                broken.append(f"{page}: {href} (no file {target})")
            elif anchor and target.endswith(".html") and unquote(anchor) not in _ids(target):
                broken.append(f"{page}: {href} (no anchor #{anchor} in {target})")
    assert not broken, f"{len(broken)} broken internal links: {broken[:10]}"


def test_term_links_land_on_glossary_entries():
    glossary_ids = _ids("glossary/index.html")
    term_links, wrong = 0, []
    for page in PAGES:
        _, hrefs = _links(page)
        for href in hrefs:
            target, anchor = urldefrag(urljoin(page, href))
            if anchor.startswith("term-"):
                term_links += 1
                if target != "glossary/index.html" or anchor not in glossary_ids:
                    wrong.append(f"{page}: {href}")
    assert term_links > 100, f"only {term_links} glossary links in the whole book?"
    assert not wrong, f"term links that miss their glossary entry: {wrong[:10]}"


def test_hovering_a_term_shows_its_definition(browser, server):
    v = Visit(browser, server + "part2_pipeline/ch05_inference.html")
    try:
        link = v.page.locator("a[href*='glossary/index.html#term-']").first
        link.scroll_into_view_if_needed()
        link.hover()
        box = v.page.wait_for_selector(".tippy-box", timeout=10_000)
        text = box.inner_text()
    finally:
        v.close()
    assert len(text) > 40, f"the hover preview is nearly empty: {text!r}"


def test_search_finds_a_glossary_term(browser, server):
    v = Visit(browser, server + "search.html?q=perplexity")
    try:
        v.page.wait_for_selector("#search-results li", timeout=20_000)
        hits = v.page.eval_on_selector_all("#search-results li a", "els => els.map(e => e.getAttribute('href'))")
    finally:
        v.close()
    assert any("glossary/index.html" in h for h in hits), f"search results for 'perplexity': {hits[:10]}"


@pytest.mark.parametrize("page", sorted(CHAPTERS))
def test_launch_and_download_buttons_point_at_this_notebook(page):
    _, hrefs = _links(page)
    notebook = page.removesuffix(".html") + ".ipynb"
    colab = f"https://colab.research.google.com/github/{urlparse(repository_url()).path.strip('/')}/blob/main/{notebook}"
    assert colab in hrefs, f"{page}: no Colab button for {notebook}"
    downloads = [h for h in hrefs if h.endswith(".ipynb") and not urlparse(h).scheme]
    assert downloads, f"{page}: no download button"
    for h in downloads:
        target = (SITE / urljoin(page, h)).resolve()
        assert target == (SITE / "_sources" / notebook).resolve() and target.is_file(), (page, h)


def test_screenshots_were_taken():
    shots = sorted(SHOTS.glob("*.png")) if SHOTS.exists() else []
    assert shots and all(s.stat().st_size > 10_000 for s in shots), shots


def test_pages_were_found():
    assert "index.html" in PAGES and CHAPTERS <= set(PAGES), sorted(CHAPTERS - set(PAGES))
    assert re.search(r"glossary/index\.html", " ".join(PAGES))
