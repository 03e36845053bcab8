"""Screenshots of the web app's page for the docs, taken in headless Chromium.

    python scripts/serve_screenshots.py --out docs \
        [--model audiorep-run/deploy]

Runs the app in this process, uploads a clip of the embedded synthetic set (a harmonic
tone, so that a model from ``audiorep run`` has a class to find), waits for the job to
finish and writes ``serve.png`` (the whole page); then uploads a text file named
``notes.wav`` and writes ``serve_error.png`` (the top of the page with the message).
Needs the serve extra, playwright and a Chromium executable (``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import soundfile as sf
from playwright.sync_api import sync_playwright

from audiorep.examples import CLASSES, synthetic_clip
from audiorep.serve import create_app, serve_in_thread

BROWSER_ARGS = ["--no-sandbox", "--enable-unsafe-swiftshader", "--use-angle=swiftshader"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="docs", help="where the PNG files go")
    parser.add_argument("--model", default=None, help="an 'audiorep export' directory")
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    args = parser.parse_args()
    if not args.chromium:
        parser.error("no Chromium executable found; give --chromium")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "harmonic-tone.wav"
        sf.write(clip, synthetic_clip(CLASSES.index("Harmonic tone"), sr=16000, seconds=2.0, seed=7), 16000,
                 subtype="PCM_16")
        notes = Path(tmp) / "notes.wav"
        notes.write_text("a shopping list, not a sound\n" * 10)
        app = create_app(jobs=1, model=args.model)
        with serve_in_thread(app) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=BROWSER_ARGS)
            # Playwright's waiting functions evaluate strings, which the page's content security policy forbids.
            page = browser.new_page(viewport={"width": 1200, "height": 900}, bypass_csp=True)
            page.goto(url)
            page.set_input_files("#file", str(clip))
            page.wait_for_function("document.body.dataset.plots === 'ready'", timeout=120_000)
            page.wait_for_function("document.getElementById('audio-decoded').readyState >= 1")
            page.wait_for_timeout(500)  # let the WebGL surface finish drawing
            page.screenshot(path=str(out / "serve.png"), full_page=True)
            page.set_input_files("#file", str(notes))
            page.wait_for_function("document.body.dataset.state === 'failed'")
            bottom = page.locator("#message").bounding_box()
            page.screenshot(path=str(out / "serve_error.png"),
                            clip={"x": 0, "y": 0, "width": 1200, "height": bottom["y"] + bottom["height"] + 24})
            browser.close()
    print(f"wrote {out / 'serve.png'} and {out / 'serve_error.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
