"""Child processes: spawn, signal, freeze, thaw, kill and reap them; capture their
output line by line; give each environment its own /tmp. Knows how, never why."""

from .output import MAX_LINE_BYTES as MAX_LINE_BYTES
from .output import Stream as Stream
from .sandbox import Sandbox as Sandbox
from .sandbox import SandboxMode as SandboxMode
from .supervisor import ExitStatus as ExitStatus
from .spawning import LaunchError as LaunchError
from .supervisor import ProcessHandle as ProcessHandle
from .spawning import ProcessSpec as ProcessSpec
from .supervisor import Supervisor as Supervisor
