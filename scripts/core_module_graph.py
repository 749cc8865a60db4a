#!/usr/bin/env python3
"""The module graph of ttlog-core (code outside `#[cfg(test)]` modules): an edge for every
`crate::X` or `use crate::{X, ..}` path, items re-exported at the crate root resolved through
lib.rs. Prints each module's dependencies and the cycles (strongly connected components).
Usage: python3 scripts/core_module_graph.py [ttlog-core/src]"""
import re, sys, os
src = sys.argv[1] if len(sys.argv) > 1 else "ttlog-core/src"

def strip(text):
    # drop comments and a trailing #[cfg(test)] mod tests { ... } block
    out, lines = [], text.split("\n")
    i = 0
    while i < len(lines):
        l = lines[i]
        if re.match(r"\s*#\[cfg\(test\)\]", l) and i + 1 < len(lines) and re.match(r"\s*mod \w+ \{", lines[i+1]):
            depth, j = 0, i + 1
            while j < len(lines):
                depth += lines[j].count("{") - lines[j].count("}")
                j += 1
                if depth == 0: break
            i = j; continue
        l = re.sub(r"//.*", "", l)
        out.append(l); i += 1
    return "\n".join(out)

mods = {}
for root, _, files in os.walk(src):
    for f in files:
        if not f.endswith(".rs"): continue
        p = os.path.join(root, f); rel = os.path.relpath(p, src)
        name = rel[:-3].replace("/mod", "").replace("/", "::")
        mods[name] = strip(open(p).read())
top = lambda n: n.split("::")[0]
lib = mods["lib"]
reexp = {}
for m in re.finditer(r"pub use (\w+)::(\{[^}]*\}|\w+)", lib):
    for item in re.findall(r"\w+", m.group(2)):
        reexp[item] = m.group(1)
macros = set(re.findall(r"macro_rules!\s*(\w+)", mods.get("macros", "")))
def resolve(seg):
    if seg in {m.split("::")[0] for m in mods}: return seg
    if seg in reexp: return reexp[seg]
    if seg in macros or seg.startswith("__"): return "macros"
    return None

def expand(body):
    # crate::{a, b::{c}} -> first segments
    depth, cur, items = 0, "", []
    for ch in body:
        if ch == "{": depth += 1
        elif ch == "}": depth -= 1
        if ch == "," and depth == 0: items.append(cur); cur = ""
        else: cur += ch
    items.append(cur)
    return [re.match(r"\s*(\w+)", it).group(1) for it in items if re.match(r"\s*(\w+)", it)]

graph = {}
for name, text in mods.items():
    me = top(name)
    if me == "lib": continue
    deps = graph.setdefault(me, set())
    for m in re.finditer(r"crate::(\{)?", text):
        if m.group(1):
            j, depth = m.end(), 1
            while depth: depth += {"{":1,"}":-1}.get(text[j],0); j += 1
            segs = expand(text[m.end():j-1])
        else:
            segs = [re.match(r"\w*", text[m.end():]).group(0)]
        for s in segs:
            r = resolve(s)
            if r and r != me: deps.add(r)
graph.pop("macros", None)
for g in graph.values(): g.discard("macros")
for k in sorted(graph): print(f"{k:14} -> {', '.join(sorted(graph[k]))}")
# Tarjan
idx, low, st, on, sccs, c = {}, {}, [], set(), [], [0]
def sc(v):
    idx[v] = low[v] = c[0]; c[0] += 1; st.append(v); on.add(v)
    for w in graph.get(v, ()):
        if w not in graph: continue
        if w not in idx: sc(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = st.pop(); on.discard(w); comp.append(w)
            if w == v: break
        sccs.append(comp)
for v in sorted(graph):
    if v not in idx: sc(v)
cyc = [sorted(s) for s in sccs if len(s) > 1]
print("cycles:", cyc if cyc else "none")
