#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""docs/architecture.md holds: the module table there matches lib/.

usage: test_architecture.py SOURCE_DIR

The table under "## Modules" has one row per module:
    | LAYER | module | file file ... | what it owns |
(LAYER 1 is the top).  Checked against the tree:
  - every file of lib/ (.c, .h) is in exactly one row, every file named exists;
  - every #include "x.h" in lib/ goes to the same module, or to a module of a
    lower layer (a larger number), never up;
  - the modules' include graph has no cycle (within a layer too);
  - a function a lib/ file calls that another lib/ file defines (hy_* names,
    matched as text) is declared in a header that file includes: so no call
    goes around the include graph (an `extern` written by hand).
Prints ok/FAIL lines like tests/tools/lib.sh; exit 0 pass, 1 fail.
"""
import os
import re
import sys

src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
lib = os.path.join(src, "lib")
doc = os.path.join(src, "docs", "architecture.md")
passed = failed = 0


def ok(msg):
    global passed
    passed += 1
    print("ok   " + msg)


def bad(msg):
    global failed
    failed += 1
    print("FAIL " + msg)


def finish():
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if not os.path.exists(doc):
    bad("docs/architecture.md is missing")
    finish()

# ---- the table ----
layer_of, module_of = {}, {}
in_table = False
for line in open(doc, encoding="utf-8"):
    if line.startswith("## "):
        in_table = line.strip() == "## Modules"
        continue
    m = re.match(r"^\|\s*(\d+)\s*\|\s*([a-z_]+)\s*\|([^|]*)\|", line) if in_table else None
    if not m:
        continue
    layer, module, files = int(m.group(1)), m.group(2), m.group(3).replace("`", "").split()
    layer_of[module] = layer
    for f in files:
        if f in module_of:
            bad(f"{f} is in two rows ({module_of[f]}, {module})")
        module_of[f] = module
if not module_of:
    bad("no module table under '## Modules' in docs/architecture.md")
    finish()

tree = sorted(f for f in os.listdir(lib) if f.endswith((".c", ".h")))
for f in tree:
    if f not in module_of:
        bad(f"lib/{f} is in no row of the module table")
for f in sorted(module_of):
    if f not in tree:
        bad(f"the module table names lib/{f}, which does not exist")
if all(f in module_of for f in tree) and all(f in tree for f in module_of):
    ok(f"the module table names the {len(tree)} files of lib/, each once")

# ---- includes: down or sideways, never up, no cycle ----
text = {f: open(os.path.join(lib, f), encoding="utf-8").read() for f in tree}
edges = {}
includes = {f: re.findall(r'^#include "([^"]+)"', text[f], re.M) for f in tree}
up = 0
for f in tree:
    a = module_of.get(f)
    for h in includes[f]:
        b = module_of.get(h)
        if a is None or b is None or a == b:
            continue
        edges.setdefault(a, set()).add(b)
        if layer_of[b] < layer_of[a]:
            up += 1
            bad(f"lib/{f} ({a}, layer {layer_of[a]}) includes {h} ({b}, layer {layer_of[b]}): up")
if not up:
    ok("every include goes to the same or a lower layer")

state, cycle = {}, []


def visit(m, path):
    state[m] = 1
    for n in sorted(edges.get(m, ())):
        if state.get(n) == 1:
            cycle.append(path[path.index(n):] + [n] if n in path else [m, n])
        elif n not in state:
            visit(n, path + [n])
    state[m] = 2


for m in sorted(layer_of):
    if m not in state:
        visit(m, [m])
for c in cycle:
    bad("the modules include each other in a loop: " + " -> ".join(c))
if not cycle:
    ok(f"no loop among the {len(layer_of)} modules' includes")

# ---- calls: through the include graph only ----
defined = {}  # hy_* function -> file defining it (non-static, at file scope)
for f in tree:
    if f.endswith(".c"):
        for name in re.findall(r"^(?!static)[a-z][^;(){}=]*?\b(hy_\w+)\(", text[f], re.M):
            defined.setdefault(name, f)


def reach(f, seen=None):
    """headers f sees, directly or through other headers"""
    seen = set() if seen is None else seen
    for h in includes.get(f, ()):
        if h not in seen and h in text:
            seen.add(h)
            reach(h, seen)
    return seen


around = 0
for f in tree:
    if not f.endswith(".c"):
        continue
    seen = reach(f)
    for name in sorted(set(re.findall(r"\b(hy_\w+)\(", text[f]))):
        home = defined.get(name)
        if not home or home == f:
            continue
        if not any(re.search(r"\b" + name + r"\(", text[h]) for h in seen):
            around += 1
            bad(f"lib/{f} calls {name} (lib/{home}) without including a header declaring it")
if not around:
    ok("every call to another lib/ file goes through a header it includes")
finish()
