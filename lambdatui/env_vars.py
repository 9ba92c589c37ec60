"""`--env-vars FILE`: SAM CLI's environment file (`sam local invoke --env-vars`), lambda-spec §10.5.

    {"Parameters": {"STAGE": "dev"}, "OrdersFunction": {"TABLE": "orders-local"}}

`Parameters` applies to every function, then the function's own block: the first of its names with one, as
`sam local` looks them up (logical ID, then FunctionName; with a plain handler path: the function's name, its
folder's). Values are strings, numbers or booleans, written as Lambda stores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from lambdatui.config_error import ConfigError
from lambdatui.env_files import read_json_file

PARAMETERS = "Parameters"


@dataclass(frozen=True)
class EnvVarsFile:
    """An --env-vars file, read: each block's variables, by the block's name (`Parameters`, a function's logical ID)."""

    origin: str  # "--env-vars FILE", for messages
    blocks: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def block_for(self, *names: str) -> Optional[str]:
        """The name of the function's own block: the first of `names` (logical ID first) whose block sets anything, as
        SAM CLI's LocalLambdaRunner._make_env_vars takes it (an empty block passes on to the next name)."""
        return next((name for name in names if name != PARAMETERS and self.blocks.get(name)), None)

    def for_function(self, *names: str) -> dict[str, str]:
        """What the file sets for the function known by `names`: its Parameters, then its own block over them."""
        own = self.block_for(*names)
        return {**self.blocks.get(PARAMETERS, {}), **(self.blocks[own] if own is not None else {})}


def _text(value: Any) -> str:
    """As SAM CLI passes a value on: a boolean as `true`/`false`, null as an empty string."""
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def load_env_vars(path: str) -> EnvVarsFile:
    origin = f"--env-vars {path}"
    data = read_json_file(Path(path).expanduser(), origin)
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected SAM's shape, "
                          '{"Parameters": {"VAR": "value"}, "LogicalId": {"VAR": "value"}}')
    blocks: dict[str, dict[str, str]] = {}
    for name, block in data.items():
        if not isinstance(block, dict):
            raise ConfigError(f"{origin}: {name!r} must be an object of variables, as in "
                              '{"Parameters": {"VAR": "value"}, "LogicalId": {"VAR": "value"}}')
        bad = [key for key, value in block.items() if not isinstance(value, (str, int, float, bool, type(None)))]
        if bad:
            raise ConfigError(f"{origin}: {name}.{bad[0]}: values must be strings (or numbers, booleans, null)")
        blocks[str(name)] = {str(key): _text(value) for key, value in block.items()}
    return EnvVarsFile(origin, blocks)
