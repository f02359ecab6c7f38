"""Look at the built site as a reader does: every page in headless Chromium at 1400 px wide.

For each page of the book it saves a screenshot of the first screen (1400 x 900) and measures, in
the rendered page, every table, code output, pre block and figure of the content column: one that
is wider than its box (``scrollWidth > clientWidth``: a reader must scroll sideways) or reaches past
the content column, and every image that failed to load, are listed, and the check fails.

Chromium runs the measurement itself: the page is opened in a same-sized frame of a small local
page that measures the frame's document once it has loaded and writes the findings into its own
DOM, which ``--dump-dom`` prints (no driver library is needed, only Debian's ``chromium``).

    python scripts/browser_check.py _build/site/synthetic-smoke/_build/html [--shots DIR]
"""

from __future__ import annotations

import argparse
import html as html_escape
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.book import chapters  # noqa: E402

WIDTH, HEIGHT = 1400, 900
MEASURE = """<!doctype html><html><body style="margin:0">
<iframe id="page" src="{src}" width="{width}" height="{height}" style="border:0"></iframe>
<pre id="result">pending</pre>
<script>
document.getElementById("page").addEventListener("load", () => setTimeout(() => {{
  const doc = document.getElementById("page").contentDocument, found = [];
  const column = doc.querySelector("main article, article.bd-article, main") || doc.body;
  const right = column.getBoundingClientRect().right + 1;
  const name = el => el.tagName.toLowerCase() + (el.className ? "." + String(el.className).split(" ")[0] : "")
    + ": " + (el.innerText || el.getAttribute("src") || "").trim().slice(0, 60).replace(/\\s+/g, " ");
  column.querySelectorAll("table, pre, .output, .cell_output, img, figure, .table-wrapper").forEach(el => {{
    const excess = el.scrollWidth - el.clientWidth;
    if (excess > 1) found.push("wider than its box by " + excess + " px: " + name(el));
    else if (el.getBoundingClientRect().right > right) found.push("past the content column: " + name(el));
  }});
  column.querySelectorAll("img").forEach(img => {{
    if (!img.complete || img.naturalWidth === 0) found.push("image failed to load: " + img.getAttribute("src"));
  }});
  document.getElementById("result").textContent = JSON.stringify(found);
}}, 500));
</script></body></html>"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    raise SystemExit("no Chromium found: install Debian's package (apt-get install chromium)")


def run_chromium(*args: str) -> str:
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--allow-file-access-from-files"]
    done = subprocess.run([chromium(), *flags, *args], capture_output=True, text=True, timeout=120)
    return done.stdout


def check_page(page: Path, shots: Path | None) -> list[str]:
    """The problems of one built page; its first screen saved into ``shots``."""
    if shots is not None:
        run_chromium(f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={shots / (page.stem + '.png')}", page.as_uri())
    with tempfile.TemporaryDirectory() as tmp:
        wrapper = Path(tmp) / "measure.html"
        wrapper.write_text(MEASURE.format(src=html_escape.escape(page.as_uri()), width=WIDTH, height=HEIGHT))
        dom = run_chromium(f"--window-size={WIDTH + 20},{HEIGHT}", "--virtual-time-budget=15000", "--dump-dom",
                           wrapper.as_uri())  # fmt: skip
    match = re.search(r'<pre id="result">(.*?)</pre>', dom, re.S)
    if not match or match.group(1) == "pending":
        return ["the page did not finish loading in the browser"]
    return json.loads(html_escape.unescape(match.group(1)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("html", type=Path, help="the built site's html folder")
    ap.add_argument("--shots", type=Path, help="save each page's first screen here (PNG)")
    args = ap.parse_args()
    if args.shots:
        args.shots = args.shots.resolve()
        args.shots.mkdir(parents=True, exist_ok=True)
    t0, failures = time.perf_counter(), 0
    for name in chapters():
        page = args.html / f"{name}.html"
        problems = check_page(page.resolve(), args.shots) if page.is_file() else [f"{page}: not built"]
        failures += bool(problems)
        print(f"{'FAIL' if problems else 'ok  '} {name}" + "".join(f"\n       {p}" for p in problems))
    print(f"{len(chapters())} pages checked at {WIDTH} px in {time.perf_counter() - t0:.0f} s")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
