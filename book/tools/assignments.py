#!/usr/bin/env python3
"""The course assignments: a student tree with the solutions stubbed out, and grading.

  assignments.py list                         the assignments, their regions and tests
  assignments.py check                        every region is listed, every assignment
                                              has its region(s) and test(s)
  assignments.py student OUTDIR [--only L,..] write the student tree
  assignments.py grade [TREE] [--build DIR] [--extra-tests DIR] [--json FILE]
                      [--cmake-arg ARG]... [--no-build]
                                              build TREE (default: this repository) and
                                              print a score table per assignment

book/assignments.txt lists the assignments; the solutions are marked in the real source
between `// BEGIN ASSIGNMENT N.M` and `// END ASSIGNMENT` (tools/regions.py). The student
tree is a copy of the repository in which the lines between each pair are replaced by

    throw kiln::NotImplemented("assignment N.M: <hint>");

(a region marked `// BEGIN ASSIGNMENT N.M device`, inside a CUDA kernel where nothing
can be thrown, becomes an empty body and the kernel's results are simply wrong). The
markers stay, so a student sees where to write. With --only, just those assignments are
stubbed. Files are rewritten only when their content changes, so regenerating into the
same folder rebuilds incrementally.

A test belongs to assignment N.M when its doctest name contains "[assignment N.M]"; the
grader builds the tree, runs every such test case on its own, and reports passed/total
per assignment. Assignments flagged `gpu` are reported as skipped where `nvidia-smi -L`
finds no GPU; those flagged `todo` have no region yet. --extra-tests DIR compiles the
doctest sources of DIR (an instructor's hidden tests, kept outside the student tree)
into one more executable, test_extra, whose labelled cases count like the others.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from regions import RegionError, find_assignments  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SOURCE_EXT = (".cpp", ".h", ".cu", ".cuh")
SKIP_DIRS = {".git", "runs", "__pycache__"}
TEST_LABEL = re.compile(r"\[assignment (\d+\.\d+)\]")


class Assignment:
    def __init__(self, label, flags, title, hint):
        self.label, self.title, self.hint = label, title, hint
        self.flags = {f.split("=")[0]: (f.split("=")[1] if "=" in f else True)
                      for f in flags.split(",") if f.strip() and f.strip() != "-"}
        self.regions = []  # (path, begin line, end line)
        self.tests = []    # (executable or source, test name)

    @property
    def gpu(self):
        return "gpu" in self.flags

    @property
    def todo(self):
        return "todo" in self.flags

    @property
    def requires(self):
        r = self.flags.get("requires")
        return r.split("+") if isinstance(r, str) else []


def read_list(root):
    path = os.path.join(root, "book", "assignments.txt")
    out = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = [p.strip() for p in line.split("|")]
            if len(parts) != 4:
                raise SystemExit(f"{path}:{n}: expected 'label | flags | title | hint'")
            out[parts[0]] = Assignment(*parts)
    return out


def tree_files(root):
    """The repository's files: git's list when it is a checkout, else a walk."""
    try:
        files = subprocess.run(["git", "-C", root, "ls-files", "-co", "--exclude-standard"],
                               check=True, capture_output=True, text=True).stdout.split("\n")
        return sorted(f for f in files if f and os.path.isfile(os.path.join(root, f)))
    except (OSError, subprocess.CalledProcessError):
        out = []
        for d, dirs, names in os.walk(root):
            dirs[:] = [x for x in dirs if x not in SKIP_DIRS and not x.startswith("build")]
            out += [os.path.relpath(os.path.join(d, n), root) for n in names]
        return sorted(out)


def scan(root, assignments):
    """Fills in each assignment's regions (sources) and tests (doctest names in tests/)."""
    errors = []
    for rel in tree_files(root):
        if not rel.endswith(SOURCE_EXT):
            continue
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            text = f.read()
        if rel.startswith("tests/"):
            for name in re.findall(r'TEST_CASE\s*\(\s*"((?:[^"\\]|\\.)*)"', text):
                for label in TEST_LABEL.findall(name):
                    if label in assignments:
                        assignments[label].tests.append((rel, name))
                    else:
                        errors.append(f"{rel}: test '{name}' names unknown assignment {label}")
            continue
        try:
            for label, _, _, begin, end in find_assignments(text, rel):
                if label in assignments:
                    assignments[label].regions.append((rel, begin + 1, end + 1))
                else:
                    errors.append(f"{rel}:{begin + 1}: region of unknown assignment {label} "
                                  "(add it to book/assignments.txt)")
        except RegionError as e:
            errors.append(str(e))
    for a in assignments.values():
        if a.todo:
            continue
        if not a.regions:
            errors.append(f"assignment {a.label}: no BEGIN ASSIGNMENT {a.label} region in the source")
        if not a.tests:
            errors.append(f"assignment {a.label}: no test named '[assignment {a.label}]' under tests/")
    return errors


def cpp_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def stub_text(text, path, assignments, only):
    lines = text.split("\n")
    for label, indent, device, begin, end in reversed(find_assignments(text, path)):
        if only and label not in only:
            continue
        hint = assignments[label].hint if label in assignments else "see book/assignments.txt"
        if device:
            stub = [f"{indent}// assignment {label}: {hint}"]
        else:
            stub = [f"{indent}throw kiln::NotImplemented({cpp_string(f'assignment {label}: {hint}')});"]
        lines[begin + 1:end] = stub
    stubbed_throw = any(not device and (not only or label in only)
                        for label, _, device, _, _ in find_assignments(text, path))
    if stubbed_throw and not any('"tensor/error.h"' in l for l in lines):
        # kiln::NotImplemented lives in tensor/error.h: include it after the last #include.
        last = max((i for i, l in enumerate(lines) if l.startswith("#include")), default=-1)
        lines.insert(last + 1, '#include "tensor/error.h"  // kiln::NotImplemented, for the stubs')
    return "\n".join(lines)


def write_if_changed(path, data):
    if os.path.exists(path):
        with open(path, "rb") as f:
            if f.read() == data:
                return False
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return True


def cmd_student(root, out, only):
    assignments = read_list(root)
    errors = scan(root, assignments)
    if errors:
        raise SystemExit("assignments: " + "\n  ".join(["the source is inconsistent:"] + errors))
    unknown = [l for l in only if l not in assignments]
    if unknown:
        raise SystemExit(f"assignments: unknown assignment(s) {', '.join(unknown)}")
    out = os.path.abspath(out)
    if out == os.path.abspath(root) or out.startswith(os.path.abspath(root) + os.sep + "book"):
        raise SystemExit("assignments: the student tree must go outside the repository's sources")
    changed = stubbed = 0
    for rel in tree_files(root):
        src = os.path.join(root, rel)
        with open(src, "rb") as f:
            data = f.read()
        if rel.endswith(SOURCE_EXT) and not rel.startswith("tests/") and b"BEGIN ASSIGNMENT" in data:
            new = stub_text(data.decode("utf-8"), rel, assignments, set(only)).encode("utf-8")
            stubbed += new != data
            data = new
        changed += write_if_changed(os.path.join(out, rel), data)
        shutil.copymode(src, os.path.join(out, rel))
    labels = [l for l in assignments if not assignments[l].todo and (not only or l in only)]
    print(f"assignments: student tree in {out}: {stubbed} files stubbed "
          f"({len(labels)} assignments: {', '.join(labels)}), {changed} files written")


def graded_folder(path):
    """A folder of tests/ whose doctest sources name an assignment."""
    if not os.path.isdir(path):
        return False
    for name in os.listdir(path):
        if name.endswith(".cpp"):
            with open(os.path.join(path, name), encoding="utf-8", errors="replace") as f:
                if "[assignment " in f.read():
                    return True
    return False


def have_gpu():
    if os.environ.get("KILN_GRADE_GPU") in ("0", "1"):
        return os.environ["KILN_GRADE_GPU"] == "1"
    try:
        r = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
        return r.returncode == 0 and "GPU" in r.stdout
    except (OSError, subprocess.TimeoutExpired):
        return False


def list_cases(exe):
    r = subprocess.run([exe, "--list-test-cases", "--reporters=xml", "--test-case=*[assignment *"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return []
    try:
        xml = ET.fromstring(r.stdout[r.stdout.index("<"):])
    except (ValueError, ET.ParseError):
        return []
    return [tc.get("name") for tc in xml.iter("TestCase")]


def run_case(exe, name):
    # doctest filters split on ',' and treat '*' and '?' as wildcards: '?' matches them.
    pattern = re.sub(r"[,*?\\]", "?", name)
    r = subprocess.run([exe, f"--test-case={pattern}", "--no-intro", "--no-version"],
                       capture_output=True, text=True)
    return r.returncode == 0, (r.stdout + r.stderr)


def cmd_grade(root, tree, build, extra, json_path, cmake_args, no_build):
    tree = os.path.abspath(tree)
    assignments = read_list(tree)
    errors = scan(tree, assignments)
    for e in errors:
        print(f"assignments: warning: {e}", file=sys.stderr)
    build = os.path.abspath(build or os.path.join(tree, "build-grade"))
    if not no_build:
        args = ["cmake", "-S", tree, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
                f"-DKILN_EXTRA_TESTS={os.path.abspath(extra) if extra else ''}"] + cmake_args
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        # Only the test programs that hold graded cases (and the hidden tests) are built.
        targets = sorted(f"test_{d}" for d in os.listdir(os.path.join(tree, "tests"))
                         if graded_folder(os.path.join(tree, "tests", d)))
        targets += ["test_extra"] if extra else []
        subprocess.run(["cmake", "--build", build, "-j", str(os.cpu_count() or 2), "--target"] + targets,
                       check=True, stdout=subprocess.DEVNULL)
    tests_dir = os.path.join(build, "tests")
    exes = sorted(os.path.join(tests_dir, f) for f in os.listdir(tests_dir)
                  if f.startswith("test_") and os.access(os.path.join(tests_dir, f), os.X_OK)
                  and os.path.isfile(os.path.join(tests_dir, f)))
    results = {label: [] for label in assignments}
    for exe in exes:
        for name in list_cases(exe):
            ok, log = run_case(exe, name)
            for label in TEST_LABEL.findall(name):
                results.setdefault(label, []).append(
                    {"test": name, "executable": os.path.basename(exe), "passed": ok,
                     "log": "" if ok else log[-2000:]})
    gpu = have_gpu()
    rows, total_pass, total_n = [], 0, 0
    for label, a in assignments.items():
        cases = results.get(label, [])
        passed = sum(c["passed"] for c in cases)
        if a.todo and not a.regions:
            status, score = "todo (no region in the source yet)", None
        elif a.gpu and not gpu:
            status, score = "skipped (no GPU)", None
        elif not cases:
            status, score = "no tests found", 0.0
        else:
            score = 100.0 * passed / len(cases)
            status = "pass" if passed == len(cases) else "FAIL"
            total_pass += passed
            total_n += len(cases)
        rows.append({"assignment": label, "title": a.title, "status": status,
                     "passed": passed if score is not None else None,
                     "total": len(cases) if score is not None else None, "score": score,
                     "tests": cases})
    width = max(len(r["title"]) for r in rows)
    print(f"\n{'':2}{'assignment':<11}{'title':<{width + 2}}{'tests':>7}  {'score':>6}  status")
    for r in rows:
        tests = f"{r['passed']}/{r['total']}" if r["score"] is not None else "-"
        score = f"{r['score']:.0f}%" if r["score"] is not None else "-"
        print(f"  {r['assignment']:<11}{r['title']:<{width + 2}}{tests:>7}  {score:>6}  {r['status']}")
    overall = 100.0 * total_pass / total_n if total_n else 0.0
    print(f"  {'total':<11}{'':<{width + 2}}{f'{total_pass}/{total_n}':>7}  {overall:>5.0f}%\n")
    for r in rows:
        for c in r["tests"]:
            if not c["passed"] and r["status"] == "FAIL":
                first = next((l for l in c["log"].splitlines() if "NotImplemented" in l or "ERROR" in l), "")
                print(f"  {r['assignment']}: {c['test']}: {first.strip()[:150]}")
    if json_path:
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump({"tree": tree, "gpu": gpu, "assignments": rows,
                       "passed": total_pass, "total": total_n, "score": overall}, f, indent=2)
    return 0 if all(r["status"] in ("pass",) or r["score"] is None for r in rows) else 1


def cmd_list(root, check_only):
    assignments = read_list(root)
    errors = scan(root, assignments)
    if not check_only:
        for a in assignments.values():
            flags = ",".join(k if v is True else f"{k}={v}" for k, v in a.flags.items())
            print(f"{a.label:5} {a.title}" + (f"  [{flags}]" if flags else ""))
            for path, b, e in a.regions:
                print(f"        region  {path}:{b}-{e}")
            for path, name in a.tests:
                print(f"        test    {path}: {name}")
    for e in errors:
        print(f"assignments: error: {e}", file=sys.stderr)
    return 1 if errors else 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["list", "check", "student", "grade"])
    p.add_argument("path", nargs="?", help="student: the output folder; grade: the tree")
    p.add_argument("--root", default=REPO, help="the solution repository (default: this one)")
    p.add_argument("--only", default="", help="student: stub only these labels (comma-separated)")
    p.add_argument("--build", help="grade: the build folder (default TREE/build-grade)")
    p.add_argument("--extra-tests", help="grade: a folder of hidden doctest sources")
    p.add_argument("--json", help="grade: also write the results as JSON here")
    p.add_argument("--cmake-arg", action="append", default=[], help="grade: extra configure argument")
    p.add_argument("--no-build", action="store_true", help="grade: use the build folder as it is")
    a = p.parse_args(argv)
    if a.command in ("list", "check"):
        return cmd_list(a.root, a.command == "check")
    if a.command == "student":
        if not a.path:
            p.error("student needs an output folder")
        cmd_student(a.root, a.path, [l for l in a.only.split(",") if l])
        return 0
    return cmd_grade(a.root, a.path or a.root, a.build, a.extra_tests, a.json, a.cmake_arg, a.no_build)


if __name__ == "__main__":
    sys.exit(main())
