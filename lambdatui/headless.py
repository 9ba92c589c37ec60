"""The headless modes: `invoke` (run N invokes and print results) and `serve` (the Invoke API for other tools)."""

from __future__ import annotations

import errno
import sys
from typing import Optional

import trio

from lambdatui.config import ConfigError, FunctionConfig
from lambdatui.host.console import ConsoleReporter
from lambdatui.model import facts as f
from lambdatui.runner import cancel_on_signals, open_environment

EXIT_OK, EXIT_FUNCTION_ERROR = 0, 1


def _address_in_use(group: BaseException) -> Optional[OSError]:
    """hypercorn's bind error arrives wrapped in the nurseries' exception groups."""
    if isinstance(group, OSError) and group.errno == errno.EADDRINUSE:
        return group
    for inner in getattr(group, "exceptions", ()):
        found = _address_in_use(inner)
        if found is not None:
            return found
    return None


def run_invoke(config: FunctionConfig, event: bytes, repeat: int) -> int:
    failures = 0

    async def main() -> None:
        nonlocal failures
        # Only the body is cancelled by a signal: the environment's own exit still shuts it down gracefully.
        body = trio.CancelScope()
        async with trio.open_nursery() as signals:
            await signals.start(cancel_on_signals, body)
            async with open_environment(config) as running:
                running.host.subscribe(ConsoleReporter(sys.stderr))
                running.host.start_environment()
                with body:
                    for _ in range(repeat):
                        result, _tail = await running.host.invoke(event)
                        sys.stdout.write(result.payload.decode("utf-8", "replace") + "\n")
                        sys.stdout.flush()
                        failures += result.function_error
            signals.cancel_scope.cancel()
        if body.cancelled_caught:
            failures += 1

    trio.run(main)
    return EXIT_FUNCTION_ERROR if failures else EXIT_OK


def run_serve(config: FunctionConfig, host: str, port: int) -> int:
    async def main() -> None:
        body = trio.CancelScope()
        async with trio.open_nursery() as signals:
            await signals.start(cancel_on_signals, body)
            async with open_environment(config, invoke_host=host, invoke_port=port) as running:
                running.host.subscribe(ConsoleReporter(sys.stderr))
                url = f"http://{running.invoke_api}/2015-03-31/functions/{config.name}/invocations"
                print(f"[{f.LAMBDATUI}] serving {config.name} ({config.handler}) at {url}", file=sys.stderr)
                running.host.start_environment()
                with body:
                    await trio.sleep_forever()
            signals.cancel_scope.cancel()

    try:
        trio.run(main)
    except BaseException as exc:  # noqa: B036 - exception groups carry the bind error
        in_use = _address_in_use(exc)
        if in_use is not None:
            raise ConfigError(f"port {port} is already in use on {host}: choose another with --port") from None
        raise
    return EXIT_OK
