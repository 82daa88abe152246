#!/usr/bin/env python3
"""Prints the import cycles of artlens's modules; exits 1 when there is one.

Issue 21's layering rule says dependencies point down and two modules never
import each other. This script checks it from the source text alone (no
compiler needed): it reads every `use` statement and every inline path that
starts with `crate::`, `super::`, `self::` or `artlens::` in `src/`, and
builds two kinds of graph:

* the top-level graph: one node per module of `src/` (`app`, `report`,
  `head`, ..., and the binary's `cli` and `server`), an edge where a file of
  one names another;
* one graph per folder: the submodules of `src/app/`, `src/report/`,
  `src/head/`, ..., an edge where one file names a sibling (directly, or
  through an item its parent's `mod.rs` re-exports from that sibling).

A module's own `mod.rs` is not a node of its folder's graph: that every
child uses its parent's types (`super::Collection`) while the parent
re-exports the children is how a Rust folder is laid out, not a cycle.
Comments are ignored, so doc links (`[`crate::head::fit`]`) do not count.

Usage: scripts/import_graph.py [SRC]   (default: the `src/` beside this script)
"""

import re
import sys
from collections import defaultdict
from pathlib import Path

BINARY = {"main", "cli", "server"}
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
PATH_RE = re.compile(rf"\b(crate|super|self|artlens)((?:::{IDENT})+)")
USE_RE = re.compile(r"\buse\s+([^;]*);", re.S)
INLINE_MOD_RE = re.compile(rf"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+({IDENT})\s*\{{")


def strip_comments(text):
    """The code of a file, with `//` comments and string contents blanked.

    Strings are emptied so that braces and paths inside them (format
    strings, messages naming `crate::...`) neither count as imports nor
    upset the brace depth used to find inline modules.
    """
    out = []
    for line in text.splitlines():
        line = re.sub(r'"(?:[^"\\]|\\.)*"', '""', line)
        cut = line.find("//")
        out.append(line if cut < 0 else line[:cut])
    return out


def module_path(src, file):
    """`src/app/taste.rs` → ['app', 'taste']; `src/app/mod.rs` → ['app']."""
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] == "mod":
        parts.pop()
    if parts == ["lib"]:
        return []
    return parts


def expand_use(tree):
    """`a::{b, c::{d, e}}` → ['a::b', 'a::c::d', 'a::c::e']."""
    tree = re.sub(r"\s+", "", tree)
    depth, start = 0, None
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                prefix, inner, rest = tree[:start], tree[start + 1 : i], tree[i + 1 :]
                items, d, cur = [], 0, ""
                for c in inner:
                    if c == "," and d == 0:
                        items.append(cur)
                        cur = ""
                        continue
                    d += c == "{"
                    d -= c == "}"
                    cur += c
                items.append(cur)
                out = []
                for it in items:
                    if it:
                        out.extend(expand_use(prefix + it + rest))
                return out
    return [re.sub(r"\bas\w+$", "", tree.split(" as ")[0])]


def references(src, file):
    """Every absolute module path (list of names) the file's code names."""
    lines = strip_comments(file.read_text(encoding="utf-8"))
    base = module_path(src, file)
    # Inline modules (`mod tests { use super::*; }`) shift what `super`
    # means for the lines inside them.
    stack, depth, per_line = [], 0, []
    for line in lines:
        m = INLINE_MOD_RE.match(line)
        if m:
            stack.append((m.group(1), depth))
        per_line.append(base + [name for name, _ in stack])
        depth += line.count("{") - line.count("}")
        while stack and depth <= stack[-1][1]:
            stack.pop()
    code = "\n".join(lines)
    line_starts = [0]
    for line in lines:
        line_starts.append(line_starts[-1] + len(line) + 1)

    def here(pos):
        lo, hi = 0, len(lines) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if line_starts[mid] <= pos:
                lo = mid
            else:
                hi = mid - 1
        return per_line[lo]

    def resolve(path, at):
        parts = path.split("::")
        head, rest = parts[0], parts[1:]
        if head == "crate":
            top = base[0] if base else ""
            prefix = ["<bin>"] if top in BINARY else []
            return prefix + rest
        if head == "artlens":
            return rest
        here_path = list(at)
        if head == "self":
            return here_path + rest
        # super (possibly repeated: super::super::x)
        cur = here_path[:-1]
        while rest and rest[0] == "super":
            cur = cur[:-1]
            rest = rest[1:]
        return cur + rest

    paths = []
    spans = []
    for m in USE_RE.finditer(code):
        spans.append((m.start(), m.end()))
        for p in expand_use(m.group(1)):
            p = p.lstrip(":")
            if p.split("::")[0] in ("crate", "super", "self", "artlens"):
                paths.append(resolve(p, here(m.start())))
    for m in PATH_RE.finditer(code):
        if any(a <= m.start() < b for a, b in spans):
            continue
        paths.append(resolve(m.group(1) + m.group(2), here(m.start())))
    return paths


def reexports(src, folder):
    """Names a folder's `mod.rs` re-exports, mapped to the child they come from."""
    mod = folder / "mod.rs"
    if not mod.exists():
        alt = folder.with_suffix(".rs")
        mod = alt if alt.exists() else None
    out = {}
    if mod is None:
        return out
    code = "\n".join(strip_comments(mod.read_text(encoding="utf-8")))
    for m in re.finditer(r"\bpub\s+use\s+([^;]*);", code):
        for p in expand_use(m.group(1)):
            parts = p.split("::")
            if parts[0] in ("self",):
                parts = parts[1:]
            if parts and parts[0] not in ("crate", "super", "artlens"):
                name = parts[-1].split(" as ")[-1]
                alias = re.search(rf"as({IDENT})$", parts[-1])
                out[alias.group(1) if alias else name] = parts[0]
    return out


def children(folder):
    """The submodule names of a folder module."""
    names = set()
    if folder.is_dir():
        for p in folder.iterdir():
            if p.suffix == ".rs" and p.stem != "mod":
                names.add(p.stem)
            elif p.is_dir() and ((p / "mod.rs").exists() or p.with_suffix(".rs").exists()):
                names.add(p.name)
    return names


def cycles(graph):
    """Every elementary cycle's strongly connected component, as sorted lists."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "src"
    files = sorted(src.rglob("*.rs"))
    top = defaultdict(set)
    folders = defaultdict(lambda: defaultdict(set))
    evidence = defaultdict(list)
    for f in files:
        me = module_path(src, f)
        if not me:
            continue
        is_bin = me[0] in BINARY
        for target in references(src, f):
            if target and target[0] == "<bin>":
                target = target[1:]
            if not target:
                continue
            # The top-level graph (the binary's crate:: paths stay in it).
            if target[0] != me[0] and (target[0] in children(src) or target[0] in BINARY):
                if not (is_bin and target[0] not in BINARY and f.name == "main.rs"):
                    top[me[0]].add(target[0])
                    evidence[(me[0], target[0])].append(f.relative_to(src).as_posix())
            # Folder graphs: the first level where the two paths part.
            n = 0
            while n < min(len(me), len(target)) and me[n] == target[n]:
                n += 1
            if n == 0 or n >= len(me) or n >= len(target):
                continue
            parent = me[:n]
            folder = src.joinpath(*parent)
            kids = children(folder)
            a = me[n]
            b = target[n]
            if b not in kids:
                b = reexports(src, folder).get(b)
            if b and b in kids and a != b:
                key = "::".join(parent)
                folders[key][a].add(b)
                evidence[(key + "::" + a, key + "::" + b)].append(f.relative_to(src).as_posix())
    found = 0
    for comp in cycles(top):
        found += 1
        print("cycle between top-level modules: " + " <-> ".join(comp))
        for a in comp:
            for b in comp:
                if b in top[a]:
                    print(f"    {a} -> {b}  ({', '.join(sorted(set(evidence[(a, b)])))})")
    for key in sorted(folders):
        for comp in cycles(folders[key]):
            found += 1
            print(f"cycle inside {key}/: " + " <-> ".join(comp))
            for a in comp:
                for b in comp:
                    if b in folders[key][a]:
                        ev = sorted(set(evidence[(key + "::" + a, key + "::" + b)]))
                        print(f"    {a} -> {b}  ({', '.join(ev)})")
    if found:
        print(f"{found} import cycle(s)")
        return 1
    print(f"no import cycles ({len(files)} files, {len(top)} top-level modules with imports)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
