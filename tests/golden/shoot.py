"""Render golden comments as GitHub shows them, to PNG, for review: ``python tests/golden/shoot.py
[--dark] [NAME.md ...] [--out DIR]``.

GitHub-flavoured Markdown to HTML with cmark-gfm (``cmarkgfm``), GitHub's CSS
(``github-markdown-css``), ```mermaid blocks drawn by the real ``mermaid`` package, all ``<details>``
open, in headless Chromium at GitHub's comment width (~880 px). Needs
``npm ci --prefix tests/standin`` and the Debian package ``chromium``.
"""
from __future__ import annotations

import argparse
import glob
import html
import os
import re
import sys

import cmarkgfm
from cmarkgfm.cmark import Options

HERE = os.path.dirname(os.path.abspath(__file__))
MODULES = os.path.join(os.path.dirname(HERE), "standin", "node_modules")
WIDTH = 880


def page(markdown: str, dark: bool) -> str:
    body = cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    body = body.replace("<details>", "<details open>")
    body = re.sub(r'<pre lang="mermaid"><code>(.*?)</code></pre>|<pre><code class="language-mermaid">(.*?)</code></pre>',
                  lambda m: f'<pre class="mermaid">{m.group(1) or m.group(2)}</pre>', body, flags=re.S)
    css = "github-markdown-dark.css" if dark else "github-markdown-light.css"
    bg = "#0d1117" if dark else "#ffffff"
    return (f"<!doctype html><html><head><meta charset='utf-8'><link rel='stylesheet' href='file://{MODULES}/"
            f"github-markdown-css/{css}'><style>body{{background:{bg};margin:0}} .markdown-body{{box-sizing:border-box;"
            f"width:{WIDTH}px;padding:16px}}</style></head><body><article class='markdown-body'>{body}</article>"
            f"<script src='file://{MODULES}/mermaid/dist/mermaid.min.js'></script>"
            f"<script>mermaid.initialize({{startOnLoad:false,theme:'{'dark' if dark else 'default'}'}});"
            "mermaid.run().then(()=>document.body.dataset.done='1',e=>{document.body.dataset.done='1';"
            "document.body.dataset.error=String(e)});</script></body></html>")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*")
    ap.add_argument("--dark", action="store_true")
    ap.add_argument("--out", default="/tmp/meshdiff-golden-png")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    os.makedirs(args.out, exist_ok=True)
    files = [os.path.join(HERE, n) for n in args.names] or sorted(glob.glob(os.path.join(HERE, "*.md")))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": WIDTH, "height": 900})
        for path in files:
            with open(path, encoding="utf-8") as handle:
                src = os.path.join(args.out, os.path.basename(path) + ".html")
                with open(src, "w", encoding="utf-8") as out:
                    out.write(page(handle.read(), args.dark))
            tab.goto("file://" + src)
            tab.wait_for_selector("body[data-done='1']", timeout=60_000)
            error = tab.evaluate("document.body.dataset.error || ''")
            png = os.path.join(args.out, os.path.basename(path)[:-3] + ("-dark" if args.dark else "") + ".png")
            tab.screenshot(path=png, full_page=True)
            print(png, html.unescape(error) if error else "ok")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
