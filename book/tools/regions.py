"""Marked regions of kiln's source files, shared by the book builder and the assignments.

Two kinds of markers, each a whole line holding only a comment (`//` in C++/CUDA, `#` in
CMake, Python and shell):

  // [region NAME]             a named region that the book includes with
  ...                          {{include path/to/file.cpp#NAME}}; regions may nest;
  // [endregion]               NAME is letters, digits, '_', '-' and '.'

  // BEGIN ASSIGNMENT N.M      the solution of a course assignment: the student tree
  ...                          replaces these lines by a stub (book/assignments.txt
  // END ASSIGNMENT            gives each label its title and hint); no nesting

Marker lines never appear in what the book shows.
"""
import re

REGION_BEGIN = re.compile(r"^\s*(?://|#)\s*\[region\s+([A-Za-z0-9_.\-]+)\]\s*$")
REGION_END = re.compile(r"^\s*(?://|#)\s*\[endregion(?:\s+[A-Za-z0-9_.\-]+)?\]\s*$")
ASSIGN_BEGIN = re.compile(r"^(\s*)(?://|#)\s*BEGIN ASSIGNMENT\s+(\d+\.\d+)(\s+device)?\s*$")
ASSIGN_END = re.compile(r"^\s*(?://|#)\s*END ASSIGNMENT\s*$")


class RegionError(Exception):
    pass


def is_marker(line):
    return bool(REGION_BEGIN.match(line) or REGION_END.match(line) or
                ASSIGN_BEGIN.match(line) or ASSIGN_END.match(line))


def find_regions(text, path="<text>"):
    """{name: (first, last)} line indices (0-based, exclusive of the marker lines)."""
    regions, stack = {}, []
    for i, line in enumerate(text.splitlines()):
        m = REGION_BEGIN.match(line)
        if m:
            stack.append((m.group(1), i))
            continue
        if REGION_END.match(line):
            if not stack:
                raise RegionError(f"{path}:{i + 1}: [endregion] without a [region]")
            name, start = stack.pop()
            if name in regions:
                raise RegionError(f"{path}:{i + 1}: region '{name}' defined twice")
            regions[name] = (start + 1, i)
    if stack:
        name, start = stack[-1]
        raise RegionError(f"{path}:{start + 1}: region '{name}' is never closed")
    return regions


def region_text(text, name, path="<text>"):
    """The lines of region `name`, markers dropped and the common indent removed."""
    regions = find_regions(text, path)
    if name not in regions:
        known = ", ".join(sorted(regions)) or "none"
        raise RegionError(f"{path}: no region '{name}' (regions there: {known})")
    first, last = regions[name]
    lines = [l for l in text.splitlines()[first:last] if not is_marker(l)]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    indents = [len(l) - len(l.lstrip()) for l in lines if l.strip()]
    cut = min(indents) if indents else 0
    return "\n".join(l[cut:] for l in lines)


def find_assignments(text, path="<text>"):
    """[(label, indent, device, begin_line, end_line)] (0-based marker line indices)."""
    found, open_ = [], None
    for i, line in enumerate(text.splitlines()):
        m = ASSIGN_BEGIN.match(line)
        if m:
            if open_:
                raise RegionError(f"{path}:{i + 1}: BEGIN ASSIGNMENT inside assignment {open_[0]}")
            open_ = (m.group(2), m.group(1), bool(m.group(3)), i)
            continue
        if ASSIGN_END.match(line):
            if not open_:
                raise RegionError(f"{path}:{i + 1}: END ASSIGNMENT without a BEGIN")
            found.append(open_ + (i,))
            open_ = None
    if open_:
        raise RegionError(f"{path}:{open_[3] + 1}: assignment {open_[0]} is never closed")
    return found
