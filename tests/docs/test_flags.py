#!/usr/bin/env python3
"""The documents' flags against the programs' own option tables.

Each program's flag table in the documents is its `--help-markdown` output, between
`<!-- BEGIN PROG --help-markdown -->` and `<!-- END PROG --help-markdown -->`, once in all
the documents; a `--flag` a document names must be a flag of one of our programs, or of a
command listed in OTHER_FLAGS below; on a command line (a code span or a line of a code
block) a flag after one of our programs must be that program's, and a flag after one of
the repository's scripts must appear in that script.

usage: test_flags.py BIN_DIR [--fix]    (--fix rewrites the tables from the programs)
"""
import glob
import os
import re
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
PROGRAMS = ("generator", "gateway", "monitor")
EVERY_PROGRAM = {"help", "version", "help-markdown"}  # common/cli.c answers these itself

# Flags of other commands that the documents name, by the command they belong to.
OTHER_FLAGS = {
    "docker": {"build", "scale", "no-recreate", "profile", "advertise-addr", "label-add",
               "image", "secret-rm", "secret-add", "alias", "privileged", "force"},
    "cmake": {"build", "install", "prefix"},
    "ctest": {"output-on-failure"},
    "protoc": {"python_out"},
    "systemctl": {"now"},
}

# Flags of the repository's own tools, checked against their source.
TOOL_FLAGS = {
    "bench/run.sh": {"quick"},
    "bench/sse_load.c": {"cdf"},
    "tools/python/rn_subscriber.py": {"proto-path", "connect", "replay-from", "replay-connect"},
    "tests/docs/test_flags.py": {"fix"},
    "tools/install-deps.sh": {"test"},
}

BEGIN = "<!-- BEGIN {} --help-markdown -->"
END = "<!-- END {} --help-markdown -->"
FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9_-]*)")


def documents():
    paths = [os.path.join(REPO, "README.md"), os.path.join(REPO, "CONTRIBUTING.md")]
    paths += sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))
    paths += sorted(glob.glob(os.path.join(REPO, "*", "README.md")))
    return [p for p in paths if os.path.isfile(p)]


def help_markdown(bin_dir, program):
    out = subprocess.run([os.path.join(bin_dir, program), "--help-markdown"], check=True,
                         capture_output=True, text=True, timeout=10).stdout
    return out


def table_flags(table):
    return {m.group(1) for m in re.finditer(r"^\| `--([a-z0-9-]+)` \|", table, re.M)}


def generated_blocks(text, program):
    """(start, end) offsets of the text between each BEGIN/END marker pair of program."""
    begin, end = BEGIN.format(program), END.format(program)
    blocks, at = [], 0
    while (b := text.find(begin, at)) >= 0:
        e = text.find(end, b)
        if e < 0:
            return blocks + [(b + len(begin), None)]
        blocks.append((b + len(begin) + 1, e))
        at = e
    return blocks


def command_lines(text):
    """Lines of fenced code blocks, and inline code spans: where a command may be written."""
    in_block = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_block = not in_block
            continue
        if in_block:
            yield line
        else:
            for span in re.findall(r"`([^`]+)`", line):
                yield span
    # A code span broken over two lines of prose.
    for span in re.findall(r"(?<!`)`([^`\n]+\n[^`\n]+)`(?!`)", text):
        yield span.replace("\n", " ")


def check_command(line, flags, where):
    """A flag after one of our programs is that program's; after a script of ours, the
    script's. A pipe, ';', '&&' or a comment ends the command."""
    problems, owner = [], None
    for token in re.split(r"\s+", line):
        if token in ("|", ";", "&&", "||") or token.startswith("#"):
            owner = None
            continue
        base = os.path.basename(token)
        if base in PROGRAMS:
            owner = ("program", base)
        elif re.fullmatch(r"[\w./-]+\.(sh|py)", token) and os.path.isfile(os.path.join(REPO, token)):
            owner = ("script", token)
        m = FLAG.fullmatch(token.split("=", 1)[0])
        if m is None or owner is None:
            continue
        name = m.group(1)
        if owner[0] == "program" and name not in flags[owner[1]] | EVERY_PROGRAM:
            problems.append(f"{where}: `{line.strip()}`: {owner[1]} has no --{name}")
        if owner[0] == "script":
            with open(os.path.join(REPO, owner[1])) as f:
                if f"--{name}" not in f.read():
                    problems.append(f"{where}: `{line.strip()}`: {owner[1]} has no --{name}")
    return problems


def check(bin_dir, fix):
    tables = {p: help_markdown(bin_dir, p) for p in PROGRAMS}
    flags = {p: table_flags(t) for p, t in tables.items()}
    known = set().union(*flags.values(), EVERY_PROGRAM, *OTHER_FLAGS.values(),
                        *TOOL_FLAGS.values())
    problems, found = [], {p: [] for p in PROGRAMS}
    for tool, names in TOOL_FLAGS.items():
        with open(os.path.join(REPO, tool)) as f:
            source = f.read()
        problems += [f"{tool} has no --{n} (TOOL_FLAGS)" for n in names if f"--{n}" not in source]
    for path in documents():
        where = os.path.relpath(path, REPO)
        with open(path) as f:
            text = f.read()
        for program in PROGRAMS:
            blocks = generated_blocks(text, program)
            found[program] += [where] * len(blocks)
            for start, end in reversed(blocks):
                if end is None:
                    problems.append(f"{where}: {BEGIN.format(program)} without its END")
                elif text[start:end] != tables[program]:
                    if fix:
                        text = text[:start] + tables[program] + text[end:]
                    else:
                        problems.append(f"{where}: the {program} flag table is not "
                                        f"`{program} --help-markdown` (run {sys.argv[0]} "
                                        f"{bin_dir} --fix)")
        if fix:
            with open(path, "w") as f:
                f.write(text)
        lines = text.splitlines()
        for lineno, line in enumerate(lines, 1):
            for m in FLAG.finditer(line):
                if m.group(1) not in known:
                    problems.append(f"{where}:{lineno}: --{m.group(1)} is no flag of "
                                    f"{', '.join(PROGRAMS)}, nor of {', '.join(OTHER_FLAGS)}, nor of "
                                    f"{', '.join(TOOL_FLAGS)}")
            if line.startswith("| flag | environment |") and not (
                    lineno > 1 and lines[lineno - 2] in [BEGIN.format(p) for p in PROGRAMS]):
                problems.append(f"{where}:{lineno}: a flag table written by hand")
        for span in command_lines(text):
            problems += check_command(span, flags, where)
    for program, where in found.items():
        if len(where) != 1:
            problems.append(f"the {program} flag table is in {len(where)} places "
                            f"({', '.join(where) or 'none'}): it belongs in one")
    return problems


def main():
    args = [a for a in sys.argv[1:] if a != "--fix"]
    if len(args) != 1:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    problems = check(args[0], "--fix" in sys.argv[1:])
    for p in problems:
        print(p, file=sys.stderr)
    if not problems:
        print(f"test_flags: {len(documents())} documents agree with "
              f"{', '.join(PROGRAMS)} --help-markdown")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
