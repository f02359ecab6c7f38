"""scripts/browser_check.py in a real headless Chromium (skipped where Chromium is not installed)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.browser_check import check_page  # noqa: E402

PAGE = """<!doctype html><html><body><main><article style="width: 600px">
<p>text</p>{content}
</article></main></body></html>"""

pytestmark = pytest.mark.skipif(
    not any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")), reason="no Chromium"
)


def test_a_page_that_fits_passes_and_wide_or_broken_content_is_found(tmp_path):
    (tmp_path / "ok.png").write_bytes(subprocess.run([sys.executable, "-c", (
        "import io, sys; from PIL import Image; b = io.BytesIO(); Image.new('L', (50, 20), 128).save(b, 'PNG');"
        "sys.stdout.buffer.write(b.getvalue())")], capture_output=True, check=True).stdout)  # fmt: skip
    fits = tmp_path / "fits.html"
    fits.write_text(PAGE.format(content='<pre>short line</pre><img src="ok.png"><table><tr><td>1</td></tr></table>'))
    assert check_page(fits, tmp_path) == []
    assert (tmp_path / "fits.png").stat().st_size > 0  # the screenshot of the first screen
    wide = tmp_path / "wide.html"
    line = "x" * 400
    content = (f'<pre style="overflow:auto">{line}</pre><img src="missing.png">'
               f'<table><tr><td style="white-space:nowrap">{line}</td></tr></table>')  # fmt: skip
    wide.write_text(PAGE.format(content=content))
    problems = check_page(wide, None)
    assert any(p.startswith("wider than its box by") and "pre" in p for p in problems)
    assert any("table" in p for p in problems)
    assert "image failed to load: missing.png" in problems
