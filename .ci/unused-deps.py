#!/usr/bin/env python3
"""Fails when a workspace package declares a dependency its code never names.

A dependency counts as used when its crate name (`-` as `_`)
appears as a path in the package's Rust sources (`use x`, `x::…`, `#[x::…]`, `extern crate`).
Build-only crates that are never named in code go in ALLOWED with the reason.
"""
import pathlib
import re
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
# (package, dependency): why it is needed without being named in code.
ALLOWED = set()


def crate_name(name):
    return name.replace("-", "_")


def sources(pkg_dir, kinds):
    dirs = {"dependencies": ["src", "build.rs"], "dev-dependencies": ["src", "tests", "benches", "examples"]}
    for d in dirs[kinds]:
        p = pkg_dir / d
        if p.is_file():
            yield p
        elif p.is_dir():
            yield from p.rglob("*.rs")


def main():
    root = tomllib.loads((ROOT / "Cargo.toml").read_text())
    members = root["workspace"]["members"]
    unused = []
    for member in members:
        pkg_dir = ROOT / member
        manifest = tomllib.loads((pkg_dir / "Cargo.toml").read_text())
        name = manifest["package"]["name"]
        tables = {"dependencies": dict(manifest.get("dependencies", {}))}
        tables["dependencies"].update(
            {k: v for t in manifest.get("target", {}).values() for k, v in t.get("dependencies", {}).items()}
        )
        tables["dev-dependencies"] = manifest.get("dev-dependencies", {})
        for kind, deps in tables.items():
            text = "\n".join(f.read_text() for f in sources(pkg_dir, kind))
            for dep in deps:
                crate = crate_name(dep)
                if (name, dep) in ALLOWED:
                    continue
                if not re.search(rf"(?<![\w:]){re.escape(crate)}\s*(::|;|\s+as\s)|extern crate {re.escape(crate)}\b", text):
                    unused.append(f"{name}: {kind} `{dep}` is never used")
    for line in unused:
        print(line, file=sys.stderr)
    return 1 if unused else 0


if __name__ == "__main__":
    sys.exit(main())
