#!/usr/bin/env python3
"""Every document is reachable from README.md through links, and every relative link
points at a file or directory that is there (README.md, CONTRIBUTING.md, docs/*.md,
*/README.md, bench/RESULTS.md)."""
import glob
import os
import re
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
LINK = re.compile(r"\]\(([^)\s]+)\)")


def documents():
    paths = ["README.md", "CONTRIBUTING.md", "bench/RESULTS.md"]
    paths += [os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "docs", "*.md"))]
    paths += [os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "*", "README.md"))]
    return {p for p in paths if os.path.isfile(os.path.join(REPO, p))}


def links(doc):
    with open(os.path.join(REPO, doc)) as f:
        text = f.read()
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = os.path.normpath(os.path.join(os.path.dirname(doc), target.split("#")[0]))
        yield target, path


def main():
    docs, problems = documents(), []
    for doc in sorted(docs):
        problems += [f"{doc}: the link ({t}) leads nowhere" for t, p in links(doc)
                     if not os.path.exists(os.path.join(REPO, p))]
    seen, todo = {"README.md"}, ["README.md"]
    while todo:
        for _, path in links(todo.pop()):
            if path in docs and path not in seen:
                seen.add(path)
                todo.append(path)
    problems += [f"{doc} is not reachable from README.md" for doc in sorted(docs - seen)]
    for p in problems:
        print(p, file=sys.stderr)
    if not problems:
        print(f"test_links: {len(docs)} documents, all reachable from README.md")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
