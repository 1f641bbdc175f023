#!/usr/bin/python3
"""check-include-cycles.py -- no circle of includes among the modules of each program and
common/.

A module is a .c/.h pair (hub.c and hub.h are the module hub); module A depends on B when
any file of A includes B's header. A circle (A needs B, B needs A, or longer) means neither
can be read, tested or replaced alone, and calls between modules follow their includes, so
this also finds call circles. Prints every circle with the includes that make it and exits
1; exits 0 when there is none.

    tests/check-include-cycles.py [DIR...]    (one program's directories; default: each of
                                              gateway/src, generator/src, tools/monitor
                                              with common)
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)


def modules(dirs):
    """{module: [(path, [included header names])]}; a module is dir/stem."""
    out = {}
    for d in dirs:
        for name in sorted(os.listdir(d)):
            stem, ext = os.path.splitext(name)
            if ext not in (".c", ".h"):
                continue
            path = os.path.join(d, name)
            with open(path, encoding="utf-8") as f:
                out.setdefault(os.path.join(d, stem), []).append((path, INCLUDE.findall(f.read())))
    return out


def edges(mods, dirs):
    """{module: {dependency: [why]}}: quoted includes resolve in the includer's directory
    first, then in the others, as the build's include path does."""
    headers = {}
    for d in reversed(dirs):
        for mod in mods:
            if os.path.dirname(mod) == d:
                headers[os.path.basename(mod) + ".h"] = mod
    graph = {m: {} for m in mods}
    for mod, files in mods.items():
        for path, includes in files:
            for inc in includes:
                local = os.path.join(os.path.dirname(path), os.path.splitext(inc)[0])
                dep = local if local in mods else headers.get(inc)
                if dep and dep != mod:
                    graph[mod].setdefault(dep, []).append(f"{path} includes {inc}")
    return graph


def circles(graph):
    """Tarjan's strongly connected components of more than one module."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def check(dirs):
    """Prints the circles among the modules of dirs; returns how many there are."""
    graph = edges(modules(dirs), dirs)
    found = circles(graph)
    for component in found:
        print("include circle: " + " <-> ".join(component))
        for a in component:
            for b in component:
                for why in graph[a].get(b, []):
                    print(f"  {why}")
    if not found:
        print(f"no include circle among the modules of {', '.join(dirs)}")
    return len(found)


def main():
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    # Each program separately: their files share names (config.h), never includes.
    programs = [sys.argv[1:]] if len(sys.argv) > 1 else [
        ["gateway/src", "common"], ["generator/src", "common"], ["tools/monitor", "common"]]
    return 1 if sum(check(dirs) for dirs in programs) else 0


if __name__ == "__main__":
    sys.exit(main())
