"""Static reading of the deployment files (no Docker here): docker-compose.yml as Compose sees it
(YAML with merge keys, then `${...}` interpolation), the Dockerfile's instructions and .env.example."""

from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
ENV_EXAMPLE = REPO / ".env.example"
LOCK = REPO / "requirements.lock"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@dataclass(frozen=True)
class Reference:
    """One `${NAME...}` in the compose file: `op` is '', ':-', '-', ':?', '?', ':+' or '+'."""

    name: str
    op: str
    arg: str

    @property
    def has_default(self) -> bool:
        return self.op in (":-", "-", ":+", "+")


def _closing_brace(text: str, start: int) -> int:
    """Index of the `}` closing the `${` whose body starts at `start` (nested `${...}` allowed)."""
    depth, i = 1, start
    while i < len(text):
        if text.startswith("$$", i):
            i += 2
            continue
        if text.startswith("${", i):
            depth, i = depth + 1, i + 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ValueError(f"unclosed ${{ in {text!r}")


def _split(body: str) -> Reference:
    m = _NAME.match(body)
    if not m:
        raise ValueError(f"invalid interpolation ${{{body}}}")
    rest = body[m.end() :]
    for op in (":-", ":?", ":+", "-", "?", "+"):
        if rest.startswith(op):
            return Reference(m.group(), op, rest[len(op) :])
    if rest:
        raise ValueError(f"unsupported interpolation ${{{body}}}")
    return Reference(m.group(), "", "")


def references(text: str) -> list[Reference]:
    """Every braced reference, nested ones included (`$$` is a literal dollar for the container)."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            i += 2
        elif text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            ref = _split(text[i + 2 : end])
            out.append(ref)
            out.extend(references(ref.arg))
            i = end + 1
        elif text[i] == "$" and _NAME.match(text, i + 1):
            raise ValueError(f"use ${{...}} (braced) or $$ in docker-compose.yml, near {text[i : i + 30]!r}")
        else:
            i += 1
    return out


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's substitution for the forms this file uses (raises on a missing required variable)."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            ref = _split(text[i + 2 : end])
            value = env.get(ref.name)
            unset_or_empty = not value if ref.op.startswith(":") else value is None
            if ref.op in (":-", "-"):
                out.append(interpolate(ref.arg, env) if unset_or_empty else value)
            elif ref.op in (":?", "?"):
                if unset_or_empty:
                    raise KeyError(f"{ref.name}: {interpolate(ref.arg, env)}")
                out.append(value)
            elif ref.op in (":+", "+"):
                out.append("" if unset_or_empty else interpolate(ref.arg, env))
            else:
                out.append(value or "")
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def strip_references(text: str) -> str:
    """The literal part of a value: every `${...}` removed."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("${", i):
            i = _closing_brace(text, i + 2) + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the `- KEY=value` form
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def command_text(service: dict) -> str:
    """Entrypoint + command as one shell-ish string."""
    parts = []
    for key in ("entrypoint", "command"):
        value = service.get(key)
        if isinstance(value, list):
            parts.extend(str(v) for v in value)
        elif value:
            parts.append(str(value))
    return " ".join(parts)


def strings(node: object) -> list[str]:
    """Every string value in a YAML tree (keys excluded)."""
    if isinstance(node, dict):
        return [s for v in node.values() for s in strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return [node] if isinstance(node, str) else []


def mounts(service: dict) -> dict[str, str]:
    """target -> source for the short `source:target[:mode]` and the long volume syntax."""
    out = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        out[target] = source
    return out


def shell_lines(script: str) -> list[list[str]]:
    """The commands of a bash script, one token list per logical line (continuations joined)."""
    joined = script.replace("\\\n", " ")
    return [shlex.split(line, comments=True) for line in joined.splitlines() if shlex.split(line, comments=True)]


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def dockerfile() -> list[Instruction]:
    """Instructions with continuations joined, comments dropped."""
    out, pending = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        pending = f"{pending} {line}" if pending else line
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        keyword, _, args = pending.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip()))
        pending = ""
    return out


def dockerfile_env() -> dict[str, str]:
    env = {}
    for ins in dockerfile():
        if ins.keyword == "ENV":
            for token in shlex.split(ins.args):
                key, _, value = token.partition("=")
                env[key] = value
    return env


def env_example() -> dict[str, str]:
    """Variables defined (uncommented) in .env.example."""
    out = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line.strip())
        if m:
            out[m.group(1)] = m.group(2)
    return out


def module_constant(path: Path, name: str) -> object:
    """A literal assigned at a module's top level, read without importing it (DAG files import Airflow)."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise LookupError(f"{name} not found in {path}")
