#!/usr/bin/env python3
"""Tests of the book's tools (book/tools/): the checker fails on a missing code region, a
missing file, an unknown equation ID and a broken link; the real book passes; the list of
equation IDs matches ../shared/EQUATIONS.md when that is present; the assignment tooling
finds every region and test, and stubs regions (C++ and CUDA device code) correctly."""
import io
import os
import re
import shutil
import sys
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "book", "tools"))
import assignments  # noqa: E402
import book  # noqa: E402
from regions import RegionError, find_assignments, find_regions, region_text  # noqa: E402


def run_book(*argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = book.main(list(argv))
    return status, out.getvalue() + err.getvalue()


class MiniBook(unittest.TestCase):
    """A tiny repository with a source file and a two-chapter book, made per test."""

    def setUp(self):
        self.root = tempfile.mkdtemp()
        os.makedirs(os.path.join(self.root, "src"))
        os.makedirs(os.path.join(self.root, "book"))
        self.write("src/f.cpp", "int a;\n// [region body]\nint f() {\n  // [region inner]\n"
                   "  return 1;\n  // [endregion]\n}\n// [endregion]\n")
        self.write("book/chapters.txt", "# order\nindex.md\nch01.md\n")
        self.write("book/equations.txt", "E1\tfirst\nE3b\toffset\nV6\tcheck\n")
        self.write("book/index.md", "# Preface\n\nSee [the chapter](ch01.md#the-part).\n")
        self.chapter("")

    def tearDown(self):
        shutil.rmtree(self.root)

    def write(self, rel, text):
        with open(os.path.join(self.root, rel), "w", encoding="utf-8") as f:
            f.write(text)

    def chapter(self, extra):
        self.write("book/ch01.md", "# One\n\nE1 and E3b, checked by V6.\n\n## The part\n\n"
                   "{{include src/f.cpp#body}}\n\nBack to [the top](#one).\n" + extra)

    def check(self):
        return run_book("check", "--root", self.root)

    def test_good_book_passes(self):
        status, log = self.check()
        self.assertEqual(status, 0, log)

    def test_missing_region_fails(self):
        self.chapter("{{include src/f.cpp#no_such_region}}\n")
        status, log = self.check()
        self.assertEqual(status, 1)
        self.assertIn("no region 'no_such_region'", log)

    def test_missing_file_fails(self):
        self.chapter("{{include src/gone.cpp#body}}\n")
        status, log = self.check()
        self.assertEqual(status, 1)
        self.assertIn("no file src/gone.cpp", log)

    def test_unknown_equation_id_fails(self):
        self.chapter("And E99 does not exist.\n")
        status, log = self.check()
        self.assertEqual(status, 1)
        self.assertIn("unknown equation ID E99", log)

    def test_id_inside_included_code_is_checked(self):
        self.write("src/f.cpp", "// [region body]\n// E42 is cited here\n// [endregion]\n")
        status, log = self.check()
        self.assertEqual(status, 1)
        self.assertIn("E42", log)

    def test_broken_links_fail(self):
        for link, why in [("[x](#nowhere)", "no anchor #nowhere"),
                          ("[x](ch02.md)", "no chapter ch02.md"),
                          ("[x](index.md#missing)", "no anchor #missing in index.md"),
                          ("[x](src/f.cpp)", "no chapter src/f.cpp")]:
            self.chapter(link + "\n")
            status, log = self.check()
            self.assertEqual(status, 1, link)
            self.assertIn(why, log)

    def test_missing_figure_fails_when_figures_are_checked(self):
        self.chapter("![a plot](figures/plot.png)\n")
        figures = os.path.join(self.root, "figs")
        os.makedirs(figures)
        status, log = run_book("check", "--root", self.root, "--figures", figures)
        self.assertEqual(status, 1)
        self.assertIn("figures/plot.png", log)
        self.write("figs/plot.png", "png")
        status, log = run_book("check", "--root", self.root, "--figures", figures)
        self.assertEqual(status, 0, log)

    def test_missing_output_table_fails(self):
        self.chapter("{{output table.md}}\n")
        os.makedirs(os.path.join(self.root, "figs"))
        status, log = run_book("check", "--root", self.root, "--figures", os.path.join(self.root, "figs"))
        self.assertEqual(status, 1)
        self.assertIn("table.md was not written", log)

    def test_unknown_directive_fails(self):
        self.chapter("{{inclde src/f.cpp#body}}\n")
        status, log = self.check()
        self.assertEqual(status, 1)
        self.assertIn("unknown or malformed directive", log)

    def test_code_in_fences_is_not_expanded_or_link_checked(self):
        self.chapter("```\n{{include src/nothing.cpp#x}} [x](#nowhere)\n```\n`[y](#nowhere)`\n")
        status, log = self.check()
        self.assertEqual(status, 0, log)


class Regions(unittest.TestCase):
    def test_nested_regions_and_markers_dropped(self):
        text = "// [region a]\n  x;\n  // [region b]\n  y;\n  // [endregion]\n// [endregion]\n"
        self.assertEqual(region_text(text, "a"), "x;\ny;")
        self.assertEqual(region_text(text, "b"), "y;")

    def test_unclosed_and_unopened(self):
        with self.assertRaises(RegionError):
            find_regions("// [region a]\n")
        with self.assertRaises(RegionError):
            find_regions("// [endregion]\n")

    def test_assignment_markers(self):
        text = "void f() {\n  // BEGIN ASSIGNMENT 7.1\n  a;\n  // END ASSIGNMENT\n}\n"
        self.assertEqual(find_assignments(text), [("7.1", "  ", False, 1, 3)])
        with self.assertRaises(RegionError):
            find_assignments("// BEGIN ASSIGNMENT 1.1\n")


class RealBook(unittest.TestCase):
    def test_real_book_passes_the_checks(self):
        status, log = run_book("check")
        self.assertEqual(status, 0, log)

    def test_every_chapter_cites_equations_and_includes_code(self):
        b = book.Book(REPO, os.path.join(REPO, "book"))
        for name in b.chapters[1:]:
            with open(os.path.join(REPO, "book", name), encoding="utf-8") as f:
                text = f.read()
            self.assertIn("{{include ", text, f"{name} includes no code")

    def test_equation_list_matches_shared_equations(self):
        shared = os.path.join(os.path.dirname(REPO), "shared", "EQUATIONS.md")
        if not os.path.exists(shared):
            self.skipTest("../shared/EQUATIONS.md is absent (a user's clone): nothing to compare")
        with open(shared, encoding="utf-8") as f:
            upstream = re.findall(r"^\|\s*([EV][0-9]+[a-z]?)\s*\|", f.read(), re.M)
        ours = book.Book(REPO, os.path.join(REPO, "book")).ids
        self.assertEqual(set(upstream), ours)


class Assignments(unittest.TestCase):
    def test_every_assignment_has_regions_and_tests(self):
        listed = assignments.read_list(REPO)
        errors = assignments.scan(REPO, listed)
        self.assertEqual(errors, [])
        for a in listed.values():
            if not a.todo:
                self.assertTrue(a.regions and a.tests, a.label)

    def test_stub_replaces_the_body_and_keeps_the_markers(self):
        listed = {"7.1": assignments.Assignment("7.1", "-", "q_sample", 'use "s.at"')}
        text = ("Tensor q(int x) {\n  check(x);\n  // BEGIN ASSIGNMENT 7.1\n  return x * 2;\n"
                "  // END ASSIGNMENT\n}\n")
        out = assignments.stub_text(text, "f.cpp", listed, set())
        self.assertIn('  throw kiln::NotImplemented("assignment 7.1: use \\"s.at\\"");\n', out)
        self.assertNotIn("return x * 2", out)
        self.assertIn("check(x);", out)
        self.assertIn("// BEGIN ASSIGNMENT 7.1", out)
        self.assertEqual(assignments.stub_text(text, "f.cpp", listed, {"8.1"}), text)  # --only

    def test_device_regions_in_cuda_files_become_empty(self):
        listed = {"4.1": assignments.Assignment("4.1", "gpu", "kernel", "one thread per element")}
        text = ("__global__ void k(float* o, const float* x, int n) {\n"
                "  // BEGIN ASSIGNMENT 4.1 device\n  int i = threadIdx.x;\n  if (i < n) o[i] = x[i];\n"
                "  // END ASSIGNMENT\n}\n")
        out = assignments.stub_text(text, "cuda/elementwise.cu", listed, set())
        self.assertNotIn("throw", out)
        self.assertNotIn("o[i] = x[i]", out)
        self.assertIn("// assignment 4.1: one thread per element", out)

    def test_student_tree_has_no_solutions(self):
        out = tempfile.mkdtemp()
        try:
            with redirect_stdout(io.StringIO()):
                assignments.cmd_student(REPO, out, [])
            with open(os.path.join(out, "diffusion", "forward.cpp"), encoding="utf-8") as f:
                text = f.read()
            self.assertIn('throw kiln::NotImplemented("assignment 7.1:', text)
            self.assertNotIn("sqrt_alpha_bar * x0 + sqrt_one_minus_alpha_bar * eps", text)
            self.assertTrue(os.path.exists(os.path.join(out, "tests", "diffusion", "assignments_test.cpp")))
        finally:
            shutil.rmtree(out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
