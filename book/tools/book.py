#!/usr/bin/env python3
"""Builds kiln's book: checks the chapters, expands code includes, renders HTML.

  book.py check [--figures DIR]          expand and check every chapter, render nothing
  book.py build --out DIR [--figures DIR] check, then render a static site with pandoc

What a chapter may contain besides Markdown (see book/README.md):

  {{include path/to/file.cpp#name}}   on a line of its own: the region `name` of that
                                      source file (tools/regions.py), as a code block
  {{output name.md}}                  on a line of its own: a Markdown file a tutorial
                                      wrote into the figures folder (a table of numbers)
  ![caption](figures/name.png)        a figure a tutorial wrote into the figures folder

The checks (any failure is an error and the exit status is 1):
  - every include names an existing file and region, every output an existing file;
  - every equation ID (E7, E3b, V6, ...) is listed in book/equations.txt;
  - every link inside the book resolves: chNN.md, chNN.md#anchor, #anchor (anchors are
    the headings' identifiers as pandoc makes them, or explicit {#id}), figures/...;
    links to the web are not followed (the book builds offline).
Only the Python standard library and pandoc are used.
"""
import argparse
import html
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from regions import RegionError, region_text  # noqa: E402

INCLUDE = re.compile(r"^\{\{include\s+([^#}\s]+)#([A-Za-z0-9_.\-]+)\s*\}\}\s*$")
OUTPUT = re.compile(r"^\{\{output\s+([A-Za-z0-9_.\-]+)\s*\}\}\s*$")
DIRECTIVE = re.compile(r"\{\{")
EQ_ID = re.compile(r"(?<![A-Za-z0-9_])([EV][0-9]+[a-z]?)(?![A-Za-z0-9_])")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*(?:\{([^}]*)\})?\s*$")
EXPLICIT_ID = re.compile(r"\{#([A-Za-z][A-Za-z0-9_.:\-]*)[^}]*\}")
FENCE = re.compile(r"^(```|~~~)")
LANG = {".cpp": "cpp", ".h": "cpp", ".cu": "cpp", ".cuh": "cpp", ".py": "python",
        ".sh": "bash", ".txt": "cmake", ".cmake": "cmake", ".md": "markdown"}


class Book:
    def __init__(self, root, book_dir, figures=None):
        self.root = os.path.abspath(root)
        self.dir = os.path.abspath(book_dir)
        self.figures = os.path.abspath(figures) if figures else None
        self.errors = []
        self.chapters = self._read_list("chapters.txt")
        self.ids = {line.split()[0] for line in self._read_list("equations.txt")}

    def _read_list(self, name):
        path = os.path.join(self.dir, name)
        if not os.path.exists(path):
            raise SystemExit(f"book: {path} is missing")
        with open(path, encoding="utf-8") as f:
            return [l.strip() for l in f if l.strip() and not l.lstrip().startswith("#")]

    def error(self, where, message):
        self.errors.append(f"{where}: {message}")

    # ---- expansion -------------------------------------------------------------------
    def expand(self, name):
        """The chapter with its directives replaced; errors are recorded."""
        path = os.path.join(self.dir, name)
        if not os.path.exists(path):
            self.error(name, "listed in chapters.txt but missing")
            return ""
        out, in_fence = [], False
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        for n, line in enumerate(lines, 1):
            where = f"{name}:{n}"
            if FENCE.match(line):
                in_fence = not in_fence
            if in_fence:
                out.append(line)
                continue
            m = INCLUDE.match(line)
            if m:
                out.extend(self._include(where, m.group(1), m.group(2)))
                continue
            m = OUTPUT.match(line)
            if m:
                out.extend(self._output(where, m.group(1)))
                continue
            if DIRECTIVE.search(line) and "}}" in line:
                self.error(where, f"unknown or malformed directive: {line.strip()}")
            out.append(line)
        return "\n".join(out) + "\n"

    def _include(self, where, rel, region):
        src = os.path.normpath(os.path.join(self.root, rel))
        if not src.startswith(self.root + os.sep) or not os.path.isfile(src):
            self.error(where, f"include: no file {rel}")
            return []
        with open(src, encoding="utf-8") as f:
            text = f.read()
        try:
            body = region_text(text, region, rel)
        except RegionError as e:
            self.error(where, f"include: {e}")
            return []
        lang = LANG.get(os.path.splitext(rel)[1], "")
        return [f'<div class="source">{html.escape(rel)} &middot; {html.escape(region)}</div>',
                "", f"```{lang}", body, "```", ""]

    def _output(self, where, name):
        if self.figures is None:
            return [f"*(generated table `{name}`: built with the figures)*"]
        path = os.path.join(self.figures, name)
        if not os.path.isfile(path):
            self.error(where, f"output: {name} was not written by any tutorial (looked in {self.figures})")
            return []
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines() + [""]

    # ---- checks ----------------------------------------------------------------------
    @staticmethod
    def prose(text):
        """(line number, line) outside fenced code, with inline code blanked."""
        in_fence = False
        for n, line in enumerate(text.splitlines(), 1):
            if FENCE.match(line):
                in_fence = not in_fence
                continue
            if not in_fence:
                yield n, re.sub(r"`[^`]*`", "``", line)

    @staticmethod
    def anchors(text):
        """The identifiers pandoc gives the headings, plus every explicit {#id}."""
        ids, seen = set(), {}
        for _, line in Book.prose(text):
            ids.update(EXPLICIT_ID.findall(line))
            m = HEADING.match(line)
            if not m or (m.group(3) and "#" in m.group(3)):
                continue
            ident = pandoc_identifier(m.group(2))
            if ident in seen:
                seen[ident] += 1
                ident = f"{ident}-{seen[ident]}"
            else:
                seen[ident] = 0
            ids.add(ident)
        return ids

    def check(self, texts):
        anchors = {name: self.anchors(text) for name, text in texts.items()}
        for name, text in texts.items():
            for n, line in enumerate(text.splitlines(), 1):
                for eq in EQ_ID.findall(line):
                    if eq not in self.ids:
                        self.error(f"{name}:{n}", f"unknown equation ID {eq} (not in book/equations.txt)")
            for n, line in self.prose(text):
                for target in LINK.findall(line):
                    self._check_link(f"{name}:{n}", name, target, anchors)

    def _check_link(self, where, name, target, anchors):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto: -- not followed offline
            return
        page, _, anchor = target.partition("#")
        if page.startswith("figures/"):
            if self.figures is not None and not os.path.isfile(os.path.join(self.figures, page[8:])):
                self.error(where, f"broken link: {target} (no such figure in {self.figures})")
            return
        page = page or name
        if page not in anchors:
            self.error(where, f"broken link: {target} (no chapter {page} in chapters.txt)")
        elif anchor and anchor not in anchors[page]:
            self.error(where, f"broken link: {target} (no anchor #{anchor} in {page})")

    def run_checks(self):
        texts = {name: self.expand(name) for name in self.chapters}
        self.check(texts)
        return texts


def pandoc_identifier(heading):
    """pandoc's auto_identifiers: formatting dropped, lowercase, spaces to '-', only
    letters, digits, '_', '-', '.', and nothing before the first letter."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links keep their text
    text = re.sub(r"[`*$\\]", "", text)
    text = "".join(c for c in text if c.isalnum() or c in "_-. \t").lower()
    text = re.sub(r"\s+", "-", text.strip())
    text = re.sub(r"^[^a-z\u00c0-\uffff]+", "", text)
    return text or "section"


def title_of(text, fallback):
    for _, line in Book.prose(text):
        m = HEADING.match(line)
        if m and len(m.group(1)) == 1:
            return re.sub(r"[`*]", "", m.group(2))
    return fallback


def render(book, texts, out):
    """Writes OUT/<chapter>.html for every chapter (pandoc, MathML) and the stylesheet."""
    pandoc = shutil.which("pandoc")
    if pandoc is None:
        raise FileNotFoundError("pandoc")
    os.makedirs(os.path.join(out, "src"), exist_ok=True)
    shutil.copy(os.path.join(book.dir, "style.css"), os.path.join(out, "style.css"))
    names = book.chapters
    titles = {n: title_of(texts[n], n) for n in names}
    html_of = lambda n: os.path.splitext(n)[0] + ".html"  # noqa: E731
    contents = "<ol class=\"book-toc\">" + "".join(
        f'<li><a href="{html_of(n)}">{html.escape(titles[n])}</a></li>' for n in names[1:]) + "</ol>"
    for i, name in enumerate(names):
        text = re.sub(r"\]\((ch[0-9A-Za-z_\-]+|index)\.md(#[^)]*)?\)",
                      lambda m: f"]({m.group(1)}.html{m.group(2) or ''})", texts[name])
        src = os.path.join(out, "src", name)
        with open(src, "w", encoding="utf-8") as f:
            f.write(text)
        cmd = [pandoc, src, "--from", "markdown+tex_math_dollars+pipe_tables+implicit_figures",
               "--to", "html5", "--standalone", "--mathml", "--toc", "--toc-depth=2",
               "--template", os.path.join(book.dir, "template.html"),
               "--metadata", f"pagetitle={titles[name]} — the kiln book",
               "--variable", "css=style.css", "--output", os.path.join(out, html_of(name))]
        if i > 0:
            cmd += ["--variable", f"prev-href={html_of(names[i - 1])}",
                    "--variable", f"prev-title={titles[names[i - 1]]}"]
        if i + 1 < len(names):
            cmd += ["--variable", f"next-href={html_of(names[i + 1])}",
                    "--variable", f"next-title={titles[names[i + 1]]}"]
        if i == 0:
            cmd += ["--variable", f"book-contents={contents}"]
        subprocess.run(cmd, check=True, cwd=out)
    # pandoc is the authority on identifiers: every #anchor a page links to must exist.
    ids = {}
    for name in names:
        with open(os.path.join(out, html_of(name)), encoding="utf-8") as f:
            ids[html_of(name)] = set(re.findall(r'\sid="([^"]+)"', f.read()))
    for name in names:
        with open(os.path.join(out, html_of(name)), encoding="utf-8") as f:
            page = f.read()
        for target in re.findall(r'href="([^"]+)"', page):
            if re.match(r"^[a-z]+:", target) or target.endswith(".css") or target.startswith("figures/"):
                continue
            file, _, anchor = target.partition("#")
            file = file or html_of(name)
            if file not in ids or (anchor and anchor not in ids[file]):
                book.error(html_of(name), f"broken link in the rendered page: {target}")


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["check", "build"])
    p.add_argument("--root", default=os.path.dirname(os.path.dirname(here)),
                   help="the repository root that includes are relative to")
    p.add_argument("--book", default=None, help="the folder with chapters.txt (default ROOT/book)")
    p.add_argument("--figures", default=None, help="where the tutorials wrote figures and tables")
    p.add_argument("--out", default=None, help="build: the site's folder")
    args = p.parse_args(argv)
    book = Book(args.root, args.book or os.path.join(args.root, "book"), args.figures)
    texts = book.run_checks()
    if args.command == "build" and not book.errors:
        if not args.out:
            p.error("build needs --out")
        try:
            render(book, texts, os.path.abspath(args.out))
        except FileNotFoundError:
            print("book: pandoc is not installed (scripts/setup.sh installs it)", file=sys.stderr)
            return 77
    for e in book.errors:
        print(f"book: error: {e}", file=sys.stderr)
    if book.errors:
        print(f"book: {len(book.errors)} error(s)", file=sys.stderr)
        return 1
    what = "built into " + args.out if args.command == "build" else "checked"
    figs = "" if book.figures else " (figures not checked: no --figures)"
    print(f"book: {len(book.chapters)} chapters {what}{figs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
