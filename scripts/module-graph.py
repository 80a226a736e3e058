#!/usr/bin/env python3
"""Prints the dependencies between confab's modules (each file under src/,
tests excluded) and fails if any form a cycle. Reads `use` paths and inline
`crate::`/`super::` paths; a module is named by its file (`server::broker`
for src/server/broker/mod.rs, its files below it counted as part of it).

    scripts/module-graph.py          # the cycles, if any (exit 1)
    scripts/module-graph.py --edges  # every edge between parts
"""
import os, re, sys
from collections import defaultdict

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
# The parts the graph is drawn between: a file's module is cut to its
# first two segments under `server` (server::broker::state::rooms is
# server::broker), and to the first segment elsewhere.
def part(path):
    segs = [s for s in path if s]
    if not segs:
        return "crate"
    if segs[0] == "server":
        return "::".join(segs[:2]) if len(segs) > 1 else "server"
    return segs[0]

def module_of(file):
    rel = os.path.relpath(file, ROOT)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return rel

def strip_tests(text):
    # drop `#[cfg(test)] mod tests { ... }` blocks and `mod tests;` files
    out, depth, skipping = [], 0, False
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == "#[cfg(test)]" and i + 1 < len(lines) and lines[i + 1].lstrip().startswith("mod tests {"):
            depth = 0
            j = i + 1
            while j < len(lines):
                depth += lines[j].count("{") - lines[j].count("}")
                j += 1
                if depth == 0:
                    break
            i = j
            continue
        out.append(line)
        i += 1
    return "\n".join(out)

sources = []
for dirpath, _, files in os.walk(ROOT):
    if os.path.relpath(dirpath, ROOT).startswith("bin"):
        continue
    for name in files:
        if name.endswith(".rs") and name != "tests.rs":
            sources.append(os.path.join(dirpath, name))
modules = {tuple(module_of(f)) for f in sources}

def resolve(path):
    """The longest prefix of `path` that is a module: the rest is an item."""
    for cut in range(len(path), -1, -1):
        if tuple(path[:cut]) in modules:
            return path[:cut]
    return []

edges = defaultdict(set)
for dirpath, _, files in os.walk(ROOT):
    if os.path.relpath(dirpath, ROOT).startswith("bin"):
        continue
    for name in files:
        if not name.endswith(".rs") or name == "tests.rs":
            continue
        file = os.path.join(dirpath, name)
        module = module_of(file)
        # a file `foo.rs` beside a folder `foo/` is that folder's module
        here = part(module)
        text = strip_tests(open(file).read())
        text = re.sub(r"//.*", "", text)
        for m in re.finditer(r"\b(crate|super(?:::super)*)::([A-Za-z_][A-Za-z0-9_:]*)", text):
            head, rest = m.group(1), m.group(2).split("::")
            if head == "crate":
                target = rest
            else:
                ups = head.count("super")
                # the module a file `x.rs` is in: its own path; super is its parent
                base = module[:]
                if name in ("mod.rs", "lib.rs"):
                    pass
                base = base[: len(base) - ups]
                target = base + rest
            there = part(resolve(target))
            if there != here and there != "crate":
                edges[here].add(there)
        # `child::...` in a module (in a `use` or inline): it uses its own child
        for m in re.finditer(r"(?<![:\w])([a-z_][a-z0-9_]*)::", text):
            child = module + [m.group(1)]
            if tuple(child) in modules:
                there = part(child)
                if there != here:
                    edges[here].add(there)

if "--edges" in sys.argv:
    for a in sorted(edges):
        print(f"{a} -> {', '.join(sorted(edges[a]))}")

# Tarjan's strongly connected components
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = counter[0]; counter[0] += 1
    stack.append(v); on.add(v)
    for w in edges.get(v, ()):
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v:
                break
        sccs.append(comp)
for v in list(edges):
    if v not in index:
        visit(v)
cycles = [sorted(c) for c in sccs if len(c) > 1]
for c in cycles:
    print("cycle:", " <-> ".join(c))
if not cycles:
    print(f"no import cycles among {len(set(edges) | {w for ws in edges.values() for w in ws})} parts")
sys.exit(1 if cycles else 0)
