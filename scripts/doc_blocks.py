#!/usr/bin/env python3
"""Tests the code blocks of a markdown file (docs/tutorial.md and its Korean
twin), so that what a reader copies compiles, runs and prints what the text
says it prints.

Markers: an HTML comment on the line just before a fenced block (blank
lines between are allowed) says what the block is.

  <!-- run -->                     a complete C program: compiled with -Wall
  <!-- run virtual-time exit=1 --> -Werror against the library, run (stdin
                                   /dev/null), and its stdout compared, byte
                                   for byte, with the next ```text block.
      options:  virtual-time       run with AIOC_VIRTUAL_TIME=1
                exit=N             the exit status expected (default 0)
                from=FILE[:A-B]    also check it as <!-- from FILE --> does
                needs=a,b          link these besides the core (curl, http,
                                   ws, tls, redis, pg, sqlite3); a block
                                   whose library is not in this build is
                                   skipped, and said to be
  <!-- from examples/X.c -->       the block appears verbatim in that file
  <!-- from examples/X.c:10-20 --> ... or is exactly its lines 10 to 20
  (no marker)                      a fragment, compiled (-c, -Wall -Werror,
                                   unused things allowed) after the usual
                                   headers (<aioc.h>, errno, stdint, stdio,
                                   stdlib, string). A fragment with a
                                   declaration at its top level (#include,
                                   typedef, static, struct, or a function
                                   definition) is a translation unit; any
                                   other is a sequence of statements and is
                                   compiled as the body of
                                   `void *fragment(void *arg)`.
  <!-- skip -->                    not tested (shell sessions need none)

```python blocks are compiled by Python (not run: asyncio programs need
no checking here, only to be valid Python).

Usage: doc_blocks.py FILE.md --flags FLAGS_FILE --workdir DIR
                     [--wrapper "valgrind ..."] [--run-only]
FLAGS_FILE (written by tests/CMakeLists.txt) holds `key=value` lines, lists
separated by ';': cc, cflags, ldflags, lib.core, lib.<adapter>...
--run-only builds and runs only the runnable programs (the Valgrind twin).
Exit status: 0 if every block passes, 1 otherwise."""

import argparse
import os
import re
import shlex
import subprocess
import sys

PRELUDE = "#include <aioc.h>\n#include <errno.h>\n#include <stdint.h>\n#include <stdio.h>\n" \
          "#include <stdlib.h>\n#include <string.h>\n"
FRAGMENT_WARNINGS = ["-Wno-unused-variable", "-Wno-unused-function",
                     "-Wno-unused-but-set-variable", "-Wno-unused-parameter"]
TOP_LEVEL = re.compile(r"^(#|typedef\b|static\b|struct\b|enum\b|extern\b|int main\b|"
                       r"[A-Za-z_][\w \*]*\**\s*[A-Za-z_]\w*\([^;]*\)\s*\{?\s*$)")


class Block:
    def __init__(self, lang, text, line, marker):
        self.lang, self.text, self.line, self.marker = lang, text, line, marker
        self.expected = None  # for runnable blocks: the next text block


def parse(path):
    """The fenced blocks of `path`, each with the marker comment before it."""
    blocks, marker, lines = [], None, open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = re.match(r"^(\s*)(```+)\s*([\w+-]*)", line)
        comment = re.match(r"^\s*<!--\s*(.*?)\s*-->\s*$", line)
        if comment:
            marker = comment.group(1)
        elif fence:
            indent, ticks, lang = fence.groups()
            body, start = [], i + 1
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(ticks):
                body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
                i += 1
            blocks.append(Block(lang, "\n".join(body) + "\n", start, marker))
            marker = None
        elif line.strip():
            marker = None
        i += 1
    for n, b in enumerate(blocks):
        if b.lang == "c" and b.marker and b.marker.split()[0] == "run":
            nxt = blocks[n + 1] if n + 1 < len(blocks) else None
            b.expected = nxt.text if nxt and nxt.lang == "text" else None
    return blocks


def read_flags(path):
    flags = {}
    for line in open(path, encoding="utf-8"):
        key, _, value = line.rstrip("\n").partition("=")
        if key:
            flags[key] = list(dict.fromkeys(v for v in value.split(";") if v))
    return flags


def run_options(marker):
    opts = {"virtual-time": False, "exit": 0, "needs": [], "from": None}
    for word in marker.split()[1:]:
        key, _, value = word.partition("=")
        if key == "virtual-time":
            opts["virtual-time"] = True
        elif key == "exit":
            opts["exit"] = int(value)
        elif key == "from":
            opts["from"] = "from " + value
        elif key == "needs":
            opts["needs"] = value.split(",")
        else:
            raise ValueError("unknown option %r in <!-- %s -->" % (word, marker))
    return opts


def check_from(block, root, marker=None):
    """<!-- from FILE[:A-B] -->: the block is in FILE (verbatim), or is its lines A-B."""
    marker = marker or block.marker
    m = re.match(r"from\s+(\S+?)(?::(\d+)-(\d+))?$", marker)
    if not m:
        return "bad marker <!-- %s -->" % marker
    path = os.path.join(root, m.group(1))
    try:
        source = open(path, encoding="utf-8").read()
    except OSError as e:
        return "cannot read %s: %s" % (m.group(1), e)
    strip = lambda s: "\n".join(l.rstrip() for l in s.split("\n"))
    if m.group(2):
        first, last = int(m.group(2)), int(m.group(3))
        want = "\n".join(source.split("\n")[first - 1:last]) + "\n"
        return None if strip(want) == strip(block.text) else \
            "differs from %s lines %d-%d" % (m.group(1), first, last)
    return None if strip(block.text) in strip(source) else "not found verbatim in " + m.group(1)


def compile_program(block, flags, workdir, name, opts):
    """Compiles and links a runnable block; the program's path, or raises with the compiler's say."""
    src, exe = os.path.join(workdir, name + ".c"), os.path.join(workdir, name)
    with open(src, "w", encoding="utf-8") as f:
        f.write(block.text)
    libs = []
    for lib in opts["needs"]:
        libs += flags["lib." + lib]
    libs += flags["lib.core"]
    cmd = flags["cc"] + ["-std=gnu11", "-Wall", "-Wextra", "-Werror"] + flags.get("cflags", []) + \
        ["-o", exe, src] + flags.get("ldflags", []) + libs + ["-lpthread", "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError("does not compile:\n" + " ".join(cmd) + "\n" + r.stderr)
    return exe


def compile_fragment(block, flags, workdir, name):
    src = os.path.join(workdir, name + ".c")
    code = block.text
    top = any(TOP_LEVEL.match(l) for l in code.split("\n"))
    with open(src, "w", encoding="utf-8") as f:
        f.write(PRELUDE)
        f.write("#line %d\n" % block.line)
        if top:
            f.write(code)
        else:
            f.write("void *fragment(void *arg);\nvoid *fragment(void *arg) {\n    (void)arg;\n")
            f.write(code)
            f.write("    return NULL;\n}\n")
    cmd = flags["cc"] + ["-std=gnu11", "-Wall", "-Wextra", "-Werror"] + FRAGMENT_WARNINGS + \
        flags.get("cflags", []) + ["-c", "-o", os.path.join(workdir, name + ".o"), src]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError("does not compile (as a %s):\n%s\n%s" %
                           ("translation unit" if top else "function body", " ".join(cmd), r.stderr))


def run_program(exe, opts, expected, wrapper, timeout):
    env = {k: v for k, v in os.environ.items() if k not in ("AIOC_VIRTUAL_TIME", "AIOC_SEED")}
    if opts["virtual-time"]:
        env["AIOC_VIRTUAL_TIME"] = "1"
    r = subprocess.run(wrapper + [exe], stdin=subprocess.DEVNULL, capture_output=True,
                       env=env, timeout=timeout)
    out = r.stdout.decode("utf-8", "replace")
    problems = []
    if r.returncode != opts["exit"]:
        problems.append("exit status %d, expected %d" % (r.returncode, opts["exit"]))
    if expected is None:
        problems.append("no ```text block after it to compare with")
    elif out != expected:
        problems.append("its output differs:\n--- expected\n%s--- got\n%s" % (expected, out))
    if problems and r.stderr:
        problems.append("stderr:\n" + r.stderr.decode("utf-8", "replace"))
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("markdown")
    ap.add_argument("--flags", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--wrapper", default="", help="a command to run the programs under")
    ap.add_argument("--run-only", action="store_true")
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()

    flags = read_flags(args.flags)
    root = os.path.dirname(os.path.dirname(os.path.abspath(args.markdown)))
    os.makedirs(args.workdir, exist_ok=True)
    wrapper = shlex.split(args.wrapper)
    stem = os.path.basename(args.markdown).replace(".", "_")
    counts = {"run": 0, "from": 0, "fragment": 0, "python": 0, "skipped": 0}
    failures = 0

    for n, b in enumerate(parse(args.markdown)):
        where = "%s:%d" % (args.markdown, b.line)
        name = "%s_%d" % (stem, b.line)
        kind = (b.marker or "").split()[0] if b.marker else ""
        try:
            if b.lang == "python":
                if not args.run_only:
                    import ast
                    compile(b.text, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
                    counts["python"] += 1
                continue
            if b.lang != "c" or kind == "skip":
                continue
            if kind == "run":
                opts = run_options(b.marker)
                missing = [lib for lib in opts["needs"] if "lib." + lib not in flags]
                if missing:
                    print("%s: skipped, this build has no %s" % (where, ", ".join(missing)))
                    counts["skipped"] += 1
                    continue
                if opts["from"] and not args.run_only:
                    problem = check_from(b, root, opts["from"])
                    if problem:
                        raise RuntimeError(problem)
                exe = compile_program(b, flags, args.workdir, name, opts)
                problems = run_program(exe, opts, b.expected, wrapper, args.timeout)
                if problems:
                    raise RuntimeError("\n".join(problems))
                counts["run"] += 1
            elif args.run_only:
                continue
            elif kind == "from":
                problem = check_from(b, root)
                if problem:
                    raise RuntimeError(problem)
                counts["from"] += 1
            elif kind:
                raise RuntimeError("unknown marker <!-- %s -->" % b.marker)
            else:
                headers = re.findall(r"#include <(aioc_\w+)\.h>", b.text)
                missing = [h for h in headers if "lib." + h[5:] not in flags]
                if missing:
                    print("%s: skipped, this build has no %s" % (where, ", ".join(missing)))
                    counts["skipped"] += 1
                    continue
                compile_fragment(b, flags, args.workdir, name)
                counts["fragment"] += 1
        except (RuntimeError, SyntaxError, ValueError, subprocess.TimeoutExpired) as e:
            failures += 1
            print("%s: FAILED: %s" % (where, e))

    print("%s: %d programs run, %d blocks found in examples, %d fragments compiled, "
          "%d Python blocks compiled, %d skipped, %d failed" %
          (args.markdown, counts["run"], counts["from"], counts["fragment"], counts["python"],
           counts["skipped"], failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
