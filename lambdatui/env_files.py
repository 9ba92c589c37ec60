"""The variables the command line gives: a JSON file of them (--env-file) and KEY=VALUE pairs (--env)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

from lambdatui.config_error import TOO_DEEP, ConfigError


def read_json_file(path: Path, origin: str) -> object:
    """A JSON file the command line names; every way it can be unreadable is one line prefixed with `origin`."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{origin}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{origin}: not UTF-8 text") from None
    except ValueError as exc:
        raise ConfigError(f"{origin}: not valid JSON ({exc})") from None
    except RecursionError:
        raise ConfigError(f"{origin}: {TOO_DEEP}") from None


def load_env_file(path: Path, function_names: Sequence[str]) -> dict[str, str]:
    """A JSON object of variables, or SAM's `{"LogicalId": {...}}` / `{"Parameters": {...}}` shape: the block of the
    first of `function_names` (a template's logical ID, as sam local matches it, then the function's name) found."""
    data = read_json_file(path, f"--env-file {path}")
    if not isinstance(data, dict):
        raise ConfigError(f"--env-file {path}: expected a JSON object")
    block = next((name for name in function_names if isinstance(data.get(name), dict)), None)
    if block is not None:
        data = data[block]
    elif "Parameters" in data and isinstance(data["Parameters"], dict):
        data = data["Parameters"]
    elif data and all(isinstance(v, dict) for v in data.values()):
        # SAM's shape, with a block for other functions only: say whose blocks it has, not that values are no strings.
        raise ConfigError(f"--env-file {path}: no block named {' or '.join(map(repr, function_names))} "
                          f"(its blocks: {', '.join(map(str, data))})")
    if not all(isinstance(v, (str, int, float, bool)) for v in data.values()):
        raise ConfigError(f"--env-file {path}: values must be strings (or scalars)")
    return {str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in data.items()}


def parse_env_pairs(pairs: Iterable[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--env {pair!r}: expected KEY=VALUE")
        env[key] = value
    return env
