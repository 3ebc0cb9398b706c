"""Every Redis key comes from townsquare.core.keyspace (flow 12); this scan enforces it.

It flags, anywhere in the package but keyspace.py, strings that look like Redis keys being
assembled: f-strings, `+` concatenation, `%` and `.format` on colon-separated words, and plain
literals of the `word:word` form. A line can opt out with `# keyspace: not a key` (say why).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "townsquare"
ALLOWED_FILES = {
    PACKAGE / "core" / "keyspace.py",
    # Renames keys of the format before hash tags: it rebuilds names textually from old ones
    # (a hashed part cannot be hashed again), in the keyspace's format.
    PACKAGE / "core" / "key_migration.py",
}
# The sandbox emulates Discord in memory and never talks to Redis (checked below), so its
# `user:123`-style strings are Discord-side identifiers, not keys.
NO_REDIS_PACKAGES = (PACKAGE / "sandbox",)
OPT_OUT = "# keyspace: not a key"
KEY_LITERAL = re.compile(r"^[a-z0-9_.-]+(:[a-z0-9_.*{}-]+)+:?$")


def _key_like(text: str) -> bool:
    return ":" in text and not any(c.isspace() for c in text) and "//" not in text


def _literal_parts(node: ast.JoinedStr) -> list[str]:
    return [
        v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
    ]


def offending_lines(source: str) -> list[int]:
    tree = ast.parse(source)
    lines = source.splitlines()
    found: set[int] = set()
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.JoinedStr):
            literal = "".join(_literal_parts(node))
            formatted = any(isinstance(v, ast.FormattedValue) for v in node.values)
            if formatted and _key_like(literal):
                found.add(line)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
            for side in (node.left, node.right):
                if (
                    isinstance(side, ast.Constant)
                    and isinstance(side.value, str)
                    and _key_like(side.value)
                ):
                    found.add(line)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"format", "join"}
            and isinstance(node.func.value, ast.Constant)
            and isinstance(node.func.value.value, str)
            and (node.func.value.value == ":" or _key_like(node.func.value.value))
        ) or (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and KEY_LITERAL.match(node.value)
        ):
            found.add(line)
    return sorted(n for n in found if OPT_OUT not in lines[n - 1])


def test_scanner_catches_each_way_of_building_a_key() -> None:
    source = "\n".join(
        [
            'a = f"ts:xp:{guild_id}"',
            'b = f"{ns}:cooldown:{guild}:{member}"',
            'c = "ts:stream:" + name',
            'd = "ts:%s:%d" % (family, n)',
            'e = "{}:{}".format(ns, family)',
            'f = ":".join((ns, family))',
            'g = redis.get("ts:config:1")',
            'h = f"bad value: {x}"',
            'i = f"redis://{host}:{port}"',
            'j = "ts:xp:1"  # keyspace: not a key',
            'k = "a sentence: with spaces"',
        ]
    )
    assert offending_lines(source) == [1, 2, 3, 4, 5, 6, 7]


def test_no_redis_key_is_built_outside_the_keyspace_module() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path in ALLOWED_FILES or path.is_relative_to(NO_REDIS_PACKAGES[0]):
            continue
        for line in offending_lines(path.read_text()):
            offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line}")
    assert not offenders, "Redis keys built outside townsquare/core/keyspace.py:\n" + "\n".join(
        offenders
    )


def test_packages_exempt_from_the_scan_do_not_use_redis() -> None:
    for package in NO_REDIS_PACKAGES:
        for path in package.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = [node.module or ""]
                assert not any(
                    name.split(".")[0] in {"redis", "valkey", "taskiq_redis"} for name in names
                ), f"{path} uses Redis, so it must build keys through the keyspace"
