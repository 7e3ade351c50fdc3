#!/usr/bin/env python3
"""Checks that every #include under src/ points down the layer graph.

Each src/ folder declares its component and dependencies in CMakeLists.txt
(crib_component(NAME DEPS ...)). A file may include headers of its own
component and of components it depends on, directly or through others.
Exits non-zero listing each upward or sideways include.
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
decl = re.compile(r"crib_component\(\s*([\w/]+)((?:\s+DEPS)?[^)]*)\)")
deps = {}
for cmake in (root / "src").rglob("CMakeLists.txt"):
    for name, rest in decl.findall(cmake.read_text()):
        words = rest.split()
        listed = []
        if "DEPS" in words:
            for word in words[words.index("DEPS") + 1:]:
                if word.isupper():
                    break
                listed.append(word)
        deps[name] = listed


def reachable(name, seen=None):
    seen = set() if seen is None else seen
    for dep in deps.get(name, []):
        if dep not in seen:
            seen.add(dep)
            reachable(dep, seen)
    return seen | {name}


def component_of(path):
    best = None
    for name in deps:
        if path == name or path.startswith(name + "/"):
            if best is None or len(name) > len(best):
                best = name
    return best


include = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
problems = []
for source in sorted((root / "src").rglob("*")):
    if source.suffix not in (".cpp", ".hpp", ".h", ".def", ".inc"):
        continue
    rel = source.relative_to(root / "src").as_posix()
    owner = component_of(rel)
    if owner is None:
        problems.append(f"{rel}: folder is not a declared component")
        continue
    allowed = reachable(owner)
    for target in include.findall(source.read_text(errors="replace")):
        target_owner = component_of(target)
        if target_owner is not None and target_owner not in allowed:
            problems.append(f"src/{rel}: includes {target} ({target_owner}), "
                            f"but {owner} does not depend on {target_owner}")
for line in problems:
    print(line)
print(f"layering: {len(problems)} problem(s) in {len(deps)} components")
sys.exit(1 if problems else 0)
