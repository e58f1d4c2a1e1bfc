#!/usr/bin/env python3
"""Generate the single-header tree single_include/ from the hand-written include/.

Starting from each root named in tools/amalgamate.json, every `#include <parley/...>`
is replaced by the text of that header, recursively, each header at most once (the
way `#pragma once` would have it). `#pragma once` lines of inlined headers are dropped
and one is written at the top. Every other line, system includes among them, is kept
as it is. The output carries no date and depends only on the input bytes, so running
the tool twice gives the same file and CI can insist on it with `--check`.

An output may name other roots in "provided_by": every header reachable from such a
root is not inlined again but replaced by one `#include <root>`, at the place of the
first include that needed it. That is how single_include/parley/testing.hpp includes
<parley/parley.hpp> instead of carrying a second copy of the core.

Usage:
    python3 tools/amalgamate.py            # (re)write the single headers
    python3 tools/amalgamate.py --check    # exit 1 if what is on disk differs

Standard library only.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path

TOOL = "tools/amalgamate.py"
CONFIG_NAME = "amalgamate.json"

# `#include <parley/x.hpp>` (and the quoted spelling, for robustness).
PROJECT_INCLUDE = re.compile(r'^\s*#\s*include\s*(?:<(parley/[^>]+)>|"(parley/[^"]+)")')
PRAGMA_ONCE = re.compile(r"^\s*#\s*pragma\s+once\b")
COND_OPEN = re.compile(r"^\s*#\s*if(?:n?def)?\b")
COND_CLOSE = re.compile(r"^\s*#\s*endif\b")

EXIT_STALE = 1
EXIT_ERROR = 2


class AmalgamationError(Exception):
    pass


def warn(message: str) -> None:
    print(f"amalgamate: warning: {message}", file=sys.stderr)


def read_lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [line.rstrip("\r") for line in text.split("\n")][: -1 if text.endswith("\n") else None]


def project_include(line: str) -> str | None:
    match = PROJECT_INCLUDE.match(line)
    if not match:
        return None
    return match.group(1) or match.group(2)


def closure(include_dir: Path, root: str) -> set[str]:
    """Every project header reachable from root, root included."""
    seen: set[str] = set()
    pending = [root]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        path = include_dir / name
        if not path.is_file():
            continue  # reported by the expansion that follows
        for line in read_lines(path):
            included = project_include(line)
            if included is not None:
                pending.append(included)
    return seen


class Amalgamator:
    def __init__(self, include_dir: Path, include_dir_label: str, provided: dict[str, str]):
        self.include_dir = include_dir
        self.include_dir_label = include_dir_label
        self.provided = provided  # header name -> the root that provides it
        self.emitted: set[str] = set()
        self.emitted_providers: set[str] = set()
        self.out: list[str] = []

    def expand(self, name: str, chain: list[str]) -> None:
        provider = self.provided.get(name)
        if provider is not None:
            if provider not in self.emitted_providers:
                self.emitted_providers.add(provider)
                self.out.append(f"#include <{provider}>")
            return
        if name in self.emitted:
            return
        self.emitted.add(name)

        path = self.include_dir / name
        if not path.is_file():
            where = f" (included from <{chain[-1]}>)" if chain else ""
            raise AmalgamationError(f"<{name}> not found in {self.include_dir_label}/{where}")

        self.out.append(f"// ----- begin <{name}> -----")
        depth = 0
        for number, line in enumerate(read_lines(path), start=1):
            if PRAGMA_ONCE.match(line):
                continue
            included = project_include(line)
            if included is not None:
                if depth > 0:
                    warn(
                        f"{self.include_dir_label}/{name}:{number}: <{included}> is included inside a "
                        "preprocessor conditional; it is inlined there unconditionally once"
                    )
                self.expand(included, chain + [name])
                continue
            if COND_OPEN.match(line):
                depth += 1
            elif COND_CLOSE.match(line):
                depth = max(0, depth - 1)
            self.out.append(line)
        self.out.append(f"// ----- end <{name}> -----")


def squeeze_blank_lines(lines: list[str]) -> list[str]:
    result: list[str] = []
    for line in lines:
        if line.strip() == "" and (not result or result[-1].strip() == ""):
            continue
        result.append(line)
    while result and result[-1].strip() == "":
        result.pop()
    return result


def generate(include_dir: Path, include_dir_label: str, entry: dict, roots: dict[str, str]) -> str:
    root = entry["root"]
    provided: dict[str, str] = {}
    for provider in entry.get("provided_by", []):
        if provider not in roots:
            raise AmalgamationError(f'"provided_by" names {provider}, which is no root in {CONFIG_NAME}')
        for name in sorted(closure(include_dir, provider)):
            provided.setdefault(name, provider)

    amalgamator = Amalgamator(include_dir, include_dir_label, provided)
    amalgamator.expand(root, [])

    description = entry.get("description")
    header = [
        f"// parley single header <{root}>" + (f": {description}." if description else "."),
        f"// GENERATED by {TOOL} from {include_dir_label}/{root}: do not edit by hand.",
        f"// Edit the headers under {include_dir_label}/ and run `python3 {TOOL}`; CI checks it with --check.",
    ]
    if entry.get("provided_by"):
        provided_list = ", ".join(f"<{p}>" for p in entry["provided_by"])
        header.append(f"// Headers reachable from {provided_list} are not inlined here: it includes that instead.")
    header += [
        "//",
        "// parley: real-time chat inside your server. MIT licence, see LICENSE.",
        "#pragma once",
        "",
    ]
    return "\n".join(header + squeeze_blank_lines(amalgamator.out)) + "\n"


def load_config(path: Path) -> dict:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise AmalgamationError(f"cannot read {path}: {error}") from error
    if "outputs" not in config or not isinstance(config["outputs"], list):
        raise AmalgamationError(f'{path}: expected an "outputs" list')
    for entry in config["outputs"]:
        if "root" not in entry or "output" not in entry:
            raise AmalgamationError(f'{path}: every output needs "root" and "output"')
    return config


def diff_summary(label: str, old: str, new: str, max_lines: int) -> str:
    diff = list(
        difflib.unified_diff(
            old.splitlines(), new.splitlines(), f"{label} (on disk)", f"{label} (generated)", lineterm="", n=1
        )
    )
    changed = sum(1 for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---")))
    shown = diff[:max_lines]
    if len(diff) > max_lines:
        shown.append(f"... ({len(diff) - max_lines} more diff lines)")
    return f"{label}: out of date, {changed} line(s) differ\n" + "\n".join(shown)


def main(argv: list[str]) -> int:
    script_dir = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if the files on disk differ")
    parser.add_argument(
        "--source-dir", type=Path, default=script_dir.parent, help="project root (default: the parent of tools/)"
    )
    parser.add_argument(
        "--config", type=Path, default=None, help=f"configuration (default: tools/{CONFIG_NAME} of the source dir)"
    )
    parser.add_argument("--diff-lines", type=int, default=40, help="diff lines shown per stale file with --check")
    args = parser.parse_args(argv)

    source_dir = args.source_dir.resolve()
    config_path = args.config if args.config is not None else source_dir / "tools" / CONFIG_NAME
    try:
        config = load_config(config_path)
        include_label = config.get("include_dir", "include")
        include_dir = source_dir / include_label
        roots = {entry["root"]: entry["output"] for entry in config["outputs"]}

        # Generate everything before writing anything, so an error leaves the tree as it was.
        generated: list[tuple[str, Path, str]] = []
        stale: list[str] = []
        for entry in config["outputs"]:
            output_label = entry["output"]
            output = source_dir / output_label
            if not (include_dir / entry["root"]).is_file():
                message = f"root {include_label}/{entry['root']} does not exist"
                if args.check and output.exists():
                    stale.append(f"{output_label}: {message}, but the generated file does; delete it")
                else:
                    warn(f"{message}; {output_label} skipped")
                continue
            generated.append((output_label, output, generate(include_dir, include_label, entry, roots)))

        for output_label, output, text in generated:
            current = output.read_text(encoding="utf-8") if output.is_file() else None
            if args.check:
                if current is None:
                    stale.append(f"{output_label}: missing")
                elif current != text:
                    stale.append(diff_summary(output_label, current, text, args.diff_lines))
                else:
                    print(f"amalgamate: {output_label} is up to date")
            elif current == text:
                print(f"amalgamate: {output_label} unchanged")
            else:
                output.parent.mkdir(parents=True, exist_ok=True)
                with open(output, "w", encoding="utf-8", newline="\n") as handle:
                    handle.write(text)
                print(f"amalgamate: wrote {output_label}")
    except AmalgamationError as error:
        print(f"amalgamate: error: {error}", file=sys.stderr)
        return EXIT_ERROR

    if stale:
        for report in stale:
            print(report, file=sys.stderr)
        print(
            f"amalgamate: {len(stale)} single header(s) out of date; run `python3 {TOOL}` and commit the result",
            file=sys.stderr,
        )
        return EXIT_STALE
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
