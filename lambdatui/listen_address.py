"""The addresses `serve` and the debugger will listen on, checked before anything starts (in the debugger, before
the screen takes over): one line naming the option, never a traceback."""

from __future__ import annotations

import errno
import socket
from typing import Optional

from lambdatui.config_error import ConfigError

MAX_PORT = 65535


def check_url_port(host: str, url_port: Optional[int], port: Optional[int]) -> None:
    """--url-port, when given: a port of its own, free on `host`."""
    if url_port is None:
        return
    if url_port == port and url_port != 0:
        raise ConfigError(f"--url-port {url_port}: the Invoke API (--port) listens there already: choose another")
    check_listen_address(host, url_port, option="--url-port")


def check_listen_address(host: str, port: int, option: str = "--port") -> None:
    """Fail before anything starts (in the debugger, before the screen takes over): one line naming the option."""
    if not 0 <= port <= MAX_PORT:
        raise ConfigError(f"{option} {port}: give a port from 0 to {MAX_PORT} (0: any free port)")
    # The socket the Invoke API will open (api/http11.py): IPv6 when the host holds a colon, else IPv4.
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except socket.gaierror as exc:
            raise ConfigError(f"--host {host}: no such host ({exc.strerror})") from None
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {port} is already in use on {host}: choose another with {option}") from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise ConfigError(f"--host {host}: not an address of this machine, so nothing can listen there "
                                  "(127.0.0.1: this machine only; 0.0.0.0: every interface)") from None
            raise ConfigError(f"{option} {port}: cannot listen on {host}:{port}: {exc.strerror}") from None
        except ValueError as exc:  # a NUL byte, or a label too long for IDNA (UnicodeError)
            raise ConfigError(f"--host {host!r}: not a host name ({exc})") from None


# Where lambdatui's own servers listen now (api/http11.serve keeps it): a telemetry listener's address must never be
# one of them. In Lambda the sandbox's loopback is its own; here 127.0.0.1 is the host's, where an extension that
# names a port it does not listen on would otherwise have its records POSTed to lambdatui's own Invoke API or
# function URL (each batch an invoke of the function).
_own_listeners: set[tuple[str, int]] = set()
_WILDCARDS = ("0.0.0.0", "::")


def listening(host: str, port: int) -> None:
    _own_listeners.add((host, port))


def stopped_listening(host: str, port: int) -> None:
    _own_listeners.discard((host, port))


def is_own_listener(host: str, port: int) -> bool:
    """Whether a connection to `host`:`port` would reach one of lambdatui's own servers."""
    return any(own_port == port and (own_host == host or own_host in _WILDCARDS)
               for own_host, own_port in _own_listeners)
