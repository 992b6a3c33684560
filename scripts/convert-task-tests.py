#!/usr/bin/env python3
"""Turns one-line test wrappers into TASK_TEST (tests/test.h).

    scripts/convert-task-tests.py FILE...   (then clang-format -i FILE...)

A wrapper is a test whose body only runs another function as main and
checks that it returned 0:

    static void *fn(void *arg) {           TASK_TEST(name) {
        (void)arg;                  ->         ...
        ...                                    return NULL;
        return NULL;                       }
    }
    TEST(name) { run_virtual(fn, NULL); }  (TASK_TEST_VIRTUAL(name) then)

recognised forms: run_virtual(fn, NULL), CHECK_ERR(aioc_run(fn, NULL,
NULL), 0), and in a file that defines AIOC_TEST_RUN, run(fn) and
run(fn, NULL). A wrapper is left alone unless fn is a static function
of this file used nowhere else and its body uses its argument only in
"(void)arg;". Running it again changes nothing.
"""
import re
import sys

WRAPPER = re.compile(
    r"^TEST\((\w+)\)\s*\{\s*"
    r"(?:run_virtual\((\w+),\s*NULL\)"
    r"|CHECK_ERR\(aioc_run\((\w+),\s*NULL,\s*NULL\),\s*0\)"
    r"|run\((\w+)(?:,\s*NULL)?\));\s*\}\n",
    re.M,
)


def code_only(text):
    """The text with its comments and string literals blanked."""
    return re.sub(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"', " ", text, flags=re.S)


def convert(text):
    suite_runs = "#define AIOC_TEST_RUN" in text
    done = 0
    for m in list(WRAPPER.finditer(text)):
        test, virtual, real, run = m.group(1), m.group(2), m.group(3), m.group(4)
        fn = virtual or real or run
        if run and not suite_runs:
            continue
        if len(re.findall(r"(?<![.>])\b%s\b" % fn, code_only(text))) != 2:
            continue  # declared ahead, or used by something else too
        head = re.search(r"^static void \*%s\(void \*(\w+)\) \{\n" % fn, text, re.M)
        if not head:
            continue
        param = head.group(1)
        end = text.index("\n}\n", head.end()) + 3
        body = text[head.end() : end]
        unused = re.compile(r"^    \(void\)%s;\n" % param, re.M)
        if re.search(r"\b%s\b" % param, code_only(unused.sub("", body))):
            continue  # the body reads its argument
        macro = "TASK_TEST_VIRTUAL" if virtual else "TASK_TEST"
        new = "%s(%s) {\n%s" % (macro, test, unused.sub("", body, count=1))
        wrapper = m.group(0)
        text = text[: head.start()] + new + text[end:]
        # the wrapper, and the blank line its removal would double
        at = text.index(wrapper)
        cut = wrapper
        if text[at - 2 : at] == "\n\n" and text[at + len(wrapper) : at + len(wrapper) + 1] == "\n":
            cut = wrapper + "\n"
        text = text[:at] + text[at + len(cut) :]
        done += 1
    return text, done


def main():
    total = 0
    for path in sys.argv[1:]:
        with open(path) as f:
            text = f.read()
        text, done = convert(text)
        if done:
            with open(path, "w") as f:
                f.write(text)
        print("%s: %d converted" % (path, done))
        total += done
    print("%d in all" % total)


if __name__ == "__main__":
    main()
