"""The built documentation site, opened in a real headless browser with the network blocked.

Build the site first (the README's command; CI sets ``REFSET_TUTORIAL_FAST=1``)::

    pip install ".[docs]" && python -m sphinx -W --keep-going -b html docs docs/_build/html

then ``pytest tests/test_docs_site.py`` (the suite's conftest needs the test extra too:
``pip install ".[test,docs]"``). The site is read from ``$REFSET_DOCS_HTML`` (default
``docs/_build/html``) and served from 127.0.0.1, and also opened as files, as a reader who
downloaded it would. Chromium and its driver come from Debian's packages (``apt-get install
chromium chromium-driver``); selenium drives them through ``/usr/bin/chromedriver`` and never
downloads a driver. The browser cannot reach any other host: every name resolves to nothing and
every proxied request goes to a closed port, so a page that needs the network (a CDN's MathJax, a
web font) shows it as failed requests.

For the landing page, tutorial 01 and the ``SparseMLP`` API page the test checks that the page
loads with no console error and no failed or non-local request, that every image loaded (and
that the tutorial shows its figures), and that MathJax, loaded from the site itself, rendered
every equation: each math node holds MathJax's output, no TeX is left as text, and MathJax
reported no error (an undefined macro is an error: docs/conf.py drops ``noundefined``). A last
test runs the same checks, equations where a page has some, on every page of the site.

Without a built site, selenium or Chromium the test is skipped, saying why, unless
``REFSET_REQUIRE_DOCS=1`` (CI): then it fails.
"""
import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(os.environ.get("REFSET_DOCS_HTML") or ROOT / "docs" / "_build" / "html")
REQUIRE = os.environ.get("REFSET_REQUIRE_DOCS") == "1"
CHROMEDRIVER = Path(os.environ.get("REFSET_CHROMEDRIVER", "/usr/bin/chromedriver"))
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
PAGE_TIMEOUT = 60           # seconds for a page and its MathJax typesetting


def _unavailable(reason):
    if REQUIRE:
        pytest.fail(f"{reason} (REFSET_REQUIRE_DOCS=1: the docs site must be built and checked)")
    pytest.skip(reason)


# -- the pages ---------------------------------------------------------------------------------

def _tutorial_page(site):
    pages = sorted(site.glob("tutorials/01_*.html"))
    return pages[0] if pages else None


def _sparse_mlp_page(site):
    """The API page that documents the class ``SparseMLP`` (found by its anchor)."""
    anchor = re.compile(r'id="(refset(?:\.\w+)*\.SparseMLP)"')
    for page in sorted(site.glob("api/**/*.html")):
        match = anchor.search(page.read_text(encoding="utf-8", errors="replace"))
        if match:
            return page, match.group(1)
    return None, None


@pytest.fixture(scope="module")
def site():
    if not (SITE / "index.html").is_file():
        _unavailable(f"no built documentation site at {SITE} (build it with the README's "
                     "command, or set REFSET_DOCS_HTML)")
    return SITE


# -- a local server that records every request -----------------------------------------------

class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):     # noqa: A002  (silent; statuses are recorded)
        pass

    def log_request(self, code="-", size="-"):
        status = int(code) if isinstance(code, int) or str(code).isdigit() else code
        self.server.requests.append((self.path, status))


def _server_errors(server):
    """The requests the local server did not answer with success: (path, status)."""
    return [(path, code) for path, code in server.requests
            if not (isinstance(code, int) and code < 400)]


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_Handler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


# -- the browser -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser(site):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed (pip install \".[docs]\")")
    chromium = next((c for c in CHROMIUM_CANDIDATES if Path(c).is_file()), shutil.which("chromium"))
    if not chromium or not CHROMEDRIVER.is_file():
        _unavailable("Chromium or its driver is missing (apt-get install chromium chromium-driver)")

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1600", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-default-apps",
                # no network: no name resolves (but the local server's address), and whatever
                # goes through the proxy meets a closed port
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    driver.set_script_timeout(PAGE_TIMEOUT)
    try:
        yield driver
    finally:
        driver.quit()


_WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
const deadline = Date.now() + 1000 * arguments[0];
(function poll() {
  if (document.readyState === "complete" && window.MathJax && MathJax.startup
      && MathJax.startup.promise) {
    MathJax.startup.promise.then(() => done("typeset"), (e) => done("MathJax failed: " + e));
  } else if (Date.now() > deadline) {
    done(window.MathJax && MathJax.version ? "MathJax never finished"
                                           : "MathJax never loaded");
  } else {
    setTimeout(poll, 100);
  }
})();
"""

_INSPECT = r"""
const mathNodes = Array.from(document.querySelectorAll(".math"));
const raw = [];
let rendered = 0;
for (const node of mathNodes) {
  if (node.querySelector("mjx-container")) rendered += 1;
  const bare = node.cloneNode(true);
  bare.querySelectorAll("mjx-container, .headerlink").forEach((n) => n.remove());
  const text = bare.textContent.trim();
  if (/[\\$]/.test(text)) raw.push(text.slice(0, 120));
}
const article = (document.querySelector("article") || document.body).cloneNode(true);
article.querySelectorAll("pre, code, script, style, .highlight, mjx-container, textarea")
  .forEach((n) => n.remove());
const visible = article.textContent;
const texLeft = [];
for (const m of visible.matchAll(/(\$\$|\$\\|\\\(|\\\[|\\begin\{)[^\n]{0,60}/g)) {
  texLeft.push(m[0]);
}
const images = Array.from(document.images).map((img) => ({
  src: img.currentSrc || img.src, complete: img.complete, width: img.naturalWidth,
  figure: !!img.closest(".cell_output, figure, .figure"),
}));
const scripts = Array.from(document.scripts).map((s) => s.src).filter((s) => s);
return {
  title: document.title,
  mathNodes: mathNodes.length, rendered: rendered, raw: raw, texLeft: texLeft.slice(0, 10),
  errors: document.querySelectorAll("mjx-merror, [data-mjx-error]").length,
  images: images, scripts: scripts,
  mathjaxVersion: window.MathJax && MathJax.version,
};
"""


def _requested_urls(driver):
    """Every URL the page asked for (Chrome's performance log: Network.requestWillBeSent)."""
    import json

    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _check_page(driver, url, base, *, figures=False, anchor=None, require_math=True):
    driver.get_log("browser")           # drop what earlier pages left
    driver.get_log("performance")
    driver.get(url)
    has_math = driver.execute_script("return document.querySelectorAll('.math').length > 0;")
    state = (driver.execute_async_script(_WAIT_FOR_MATHJAX, PAGE_TIMEOUT - 5)
             if has_math or require_math else "typeset")
    report = driver.execute_script(_INSPECT)
    logged = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    foreign = [u for u in _requested_urls(driver)
               if not u.startswith(base) and not u.startswith(("data:", "blob:", "about:"))]
    where = f"{url} ({report['title']!r})"

    assert not logged, f"{where}: console errors:\n" + "\n".join(e["message"] for e in logged)
    assert not foreign, f"{where}: requests that leave the site: {foreign}"
    assert state == "typeset", f"{where}: {state}"
    mathjax = [s for s in report["scripts"] if "mathjax" in s.lower()]
    assert all(s.startswith(base) for s in mathjax), \
        f"{where}: MathJax must come with the site, not from {mathjax}"
    if require_math:
        assert mathjax, f"{where}: the page does not load MathJax"
        assert report["mathNodes"] > 0, f"{where}: no equation on the page"
    assert report["rendered"] == report["mathNodes"], \
        f"{where}: MathJax rendered {report['rendered']} of {report['mathNodes']} equations"
    assert not report["raw"], f"{where}: TeX left as text in math nodes: {report['raw'][:5]}"
    assert not report["texLeft"], f"{where}: TeX left as text on the page: {report['texLeft']}"
    assert report["errors"] == 0, f"{where}: {report['errors']} MathJax error nodes"
    broken = [i["src"] for i in report["images"] if not (i["complete"] and i["width"] > 0)]
    assert not broken, f"{where}: images that did not load: {broken}"
    if figures:
        shown = [i for i in report["images"] if i["figure"]]
        assert shown, f"{where}: no figure on the page"
    if anchor is not None:
        assert driver.execute_script("return !!document.getElementById(arguments[0]);", anchor), \
            f"{where}: no element with id {anchor!r}"
    return report


def _pages(site):
    tutorial = _tutorial_page(site)
    api, anchor = _sparse_mlp_page(site)
    # a built site without them is broken, not absent: fail, never skip
    assert tutorial is not None, f"no tutorials/01_*.html in {site}: the site is incomplete"
    assert api is not None, f"no API page documenting SparseMLP under {site / 'api'}"
    return [("landing page", site / "index.html", {}),
            ("tutorial 01", tutorial, {"figures": True}),
            ("SparseMLP API page", api, {"anchor": anchor})]


@pytest.mark.parametrize("page", ["landing page", "tutorial 01", "SparseMLP API page"])
def test_page_served_offline(page, site, server, browser):
    """Each page, served over HTTP from 127.0.0.1: loads cleanly, figures and equations shown."""
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    name, path, checks = next(p for p in _pages(site) if p[0] == page)
    del server.requests[:]
    _check_page(browser, base + path.relative_to(site).as_posix(), base, **checks)
    failed = _server_errors(server)
    assert not failed, f"{name}: the server answered errors: {failed}"


@pytest.mark.parametrize("page", ["landing page", "tutorial 01", "SparseMLP API page"])
def test_page_opened_as_file(page, site, browser):
    """The same pages opened from disk (a reader who downloaded the site, no server)."""
    base = site.resolve().as_uri() + "/"
    name, path, checks = next(p for p in _pages(site) if p[0] == page)
    _check_page(browser, path.resolve().as_uri(), base, **checks)


def test_every_page_served_offline(site, server, browser):
    """Every page of the site (but the theme's and viewcode's): no console error, no request
    that leaves the site, every image loaded, every equation rendered."""
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    skip = {"_static", "_sources", "_modules", "_images", "_downloads"}
    pages = sorted(p for p in site.rglob("*.html") if not skip & set(p.relative_to(site).parts))
    assert len(pages) > 10, f"only {len(pages)} pages in {site}"
    problems = []
    for path in pages:
        del server.requests[:]
        try:
            _check_page(browser, base + path.relative_to(site).as_posix(), base,
                        require_math=False)
        except AssertionError as error:
            problems.append(" ".join(str(error).splitlines()[:2]))
        failed = _server_errors(server)
        if failed:
            problems.append(f"{path.relative_to(site)}: the server answered errors: {failed}")
    assert not problems, f"{len(problems)} of {len(pages)} pages:\n" + "\n".join(problems)
