"""One extension, as its author needs to see it: what it subscribed to, and every event it was sent, in order.

INVOKE and SHUTDOWN from the Extensions API and each Telemetry (or Logs) API batch, each with what the
environment was doing when it arrived ("invoke a1000000 +3.2 ms"), which is what nobody can see in the cloud.
A batch expands into its records, and each record (or event) into its JSON. It renders
`DebuggerSnapshot.extensions` and nothing else; the app hands it each new snapshot while it is open, and new
events are appended without closing what the user opened.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from rich.highlighter import JSONHighlighter
from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static, Tree
from textual.widgets.tree import TreeNode

from lambdatui.model import debug_snapshot as ds
from lambdatui.model.debug_snapshot import DebuggerSnapshot, ExtensionActivity, ReceivedEvent
from lambdatui.model.telemetry import LOGS
from lambdatui.ui.widgets._format import duration, one_line, seconds, size
from lambdatui.ui.widgets import phase_timeline
from lambdatui.ui.widgets._host_clock import HostClock
from lambdatui.ui.widgets._theme import theme_color
from lambdatui.ui.widgets.participants import TICK_S, buffering, trouble_line

MAX_LINE = 400  # characters of one JSON line shown (a long log message scrolls no further)
_JSON = JSONHighlighter()


def type_summary(types: tuple[str, ...], limit: int = 6) -> str:
    """"platform.start, function ×3, platform.runtimeDone": a batch's types in order, runs counted."""
    runs: list[list[Any]] = []
    for name in types:
        if runs and runs[-1][0] == name:
            runs[-1][1] += 1
        else:
            runs.append([name, 1])
    parts = [name if count == 1 else f"{name} ×{count}" for name, count in runs[:limit]]
    if len(runs) > limit:
        parts.append(f"… {len(runs) - limit} more")
    return ", ".join(parts)


def event_title(event: ReceivedEvent, api: str = "") -> str:
    """What one entry of the list says, after when it arrived."""
    if event.kind == ds.INVOKE:
        return f"INVOKE {event.request_id or ''}".rstrip()
    if event.kind == ds.SHUTDOWN:
        return f"SHUTDOWN {event.reason or ''}".rstrip()
    if event.kind == ds.DROPPED:
        return f"{event.records} records dropped ({size(event.bytes)}): the listener fell behind"
    if event.kind == ds.BATCH:
        noun = f"{'logs' if api == LOGS else 'telemetry'} batch"
        records = f"{event.records} record{'s' * (event.records != 1)}"
        if event.error is not None:
            return f"{noun} not taken (attempt {event.attempt}): {one_line(event.error)} · {records}"
        retry = f" (attempt {event.attempt})" if event.attempt > 1 else ""
        return f"{noun}{retry} · {records}: {type_summary(event.types)}"
    return f"{event.kind} event"


def event_when(event: ReceivedEvent) -> str:
    return f"{event.during} +{duration(event.since_ms)}"


def subscription_text(activity: Optional[ExtensionActivity]) -> str:
    if activity is None or activity.subscription is None:
        return ("Not subscribed to the Telemetry or Logs API (an extension subscribes during its Init, "
                "between /register and its first /event/next).")
    sub = activity.subscription
    api = "Logs API" if sub.api == LOGS else "Telemetry API"
    if sub.protocol == "TCP":
        where = f"TCP port {sub.port} (NDJSON)"
    else:
        where = f"HTTP {sub.method} {sub.uri or f'port {sub.port}{sub.path}'}"
    kb = buffering(sub).split(" · ")[1]
    return (f"{api} {sub.schema_version}: {', '.join(sub.types)}\n"
            f"to {where} · buffering: maxItems {sub.max_items}, maxBytes {kb}, timeoutMs {sub.timeout_ms}")


def deliveries_text(activity: Optional[ExtensionActivity], as_of: float) -> str:
    if activity is None or activity.subscription is None and not activity.batches:
        return ""
    if activity.last_delivery_at is None:
        text = "Nothing delivered yet"
    else:
        text = (f"Delivered {activity.batches} batch{'es' * (activity.batches != 1)}, {activity.records} records, "
                f"{size(activity.bytes)} · last {seconds(as_of - activity.last_delivery_at)} ago")
    trouble = trouble_line(activity)
    if activity.dropped_records:
        trouble = trouble.replace(f"{activity.dropped_records} dropped",
                                  f"{activity.dropped_records} records dropped ({size(activity.dropped_bytes)})")
    return text + (f" · {trouble}" if trouble else "")


def json_lines(value: Any) -> list[Text]:
    lines = json.dumps(value, indent=2, ensure_ascii=False).splitlines()
    return [_JSON(Text(line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…")) for line in lines]


def text_lines(text: str) -> list[Text]:
    return [Text(one_line(line)[:MAX_LINE]) for line in text.splitlines() or [""]]


def record_title(record: Any) -> str:
    """A batch's record in one line: its type, its time, and what identifies it."""
    if not isinstance(record, dict):
        return one_line(str(record))[:MAX_LINE]
    kind = str(record.get("type", "?"))
    time = str(record.get("time", ""))
    inner = record.get("record")
    what = ""
    if isinstance(inner, str):
        what = one_line(inner)
    elif isinstance(inner, dict):
        bits = [str(inner[k]) for k in ("requestId", "status", "phase", "name", "state") if k in inner]
        if "message" in inner:
            bits.append(one_line(str(inner["message"])))
        what = " ".join(bits)
    return one_line(f"{kind}  {time}  {what}".rstrip())[:MAX_LINE]


class ExtensionEventsScreen(ModalScreen[None]):
    """`v` or enter on an extension's row: its subscription, its deliveries, and what it was sent, in order."""

    BINDINGS = [
        Binding("escape,q,v", "close", "Close"),
        Binding("o", "open_all", "Open all"),
        Binding("c", "close_all", "Collapse all"),
    ]

    def __init__(self, name: str, snapshot: Optional[DebuggerSnapshot], host_clock: Optional[HostClock] = None) -> None:
        """`host_clock`: the one the Participants panel reads, which has seen every snapshot: `snapshot` may date from
        when the environment froze (none comes while it is frozen, held or shut down), which a clock of its own would
        take for now."""
        super().__init__()
        self.extension_name = name
        self._shown = snapshot
        self._event_nodes: dict[int, TreeNode[Any]] = {}  # by ReceivedEvent.seq
        self._opened: set[int] = set()  # ids of nodes whose children were added (on first expand)
        # "last delivered ... ago" ticks between snapshots (none comes while the environment is frozen or held), on
        # the timeline's local clock (`HostClock`).
        self._host_clock = host_clock or HostClock(phase_timeline.monotonic_clock)
        self._deliveries: Optional[str] = None  # the deliveries line as shown

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"[b]{escape(self.extension_name)}[/b] · what the extension was sent, in order · "
                        "enter opens a batch or its JSON · o opens all · c collapses · esc closes")
            yield Static(id="subscription")
            yield Static(id="deliveries")
            yield Static(id="forgotten")
            tree: Tree[Any] = Tree("received", id="received")
            tree.show_root = False
            tree.guide_depth = 3
            yield tree

    def on_mount(self) -> None:
        self.show(self._shown)
        self.query_one(Tree).focus()
        self.set_interval(TICK_S, self._show_deliveries)

    # ------------------------------------------------------------------ rendering

    def show(self, snapshot: Optional[DebuggerSnapshot]) -> None:
        """Render this snapshot: the new events are appended, those the model let go removed."""
        self._shown = snapshot
        if snapshot is not None:
            self._host_clock.seen(snapshot.environment.as_of)
        activity = snapshot.extension(self.extension_name) if snapshot is not None else None
        self.query_one("#subscription", Static).update(Text(subscription_text(activity)))
        self._show_deliveries()
        tree = self.query_one(Tree)
        events = activity.events if activity is not None else ()
        forgotten = self.query_one("#forgotten", Static)
        forgotten.display = activity is not None and activity.forgotten > 0
        if activity is not None and activity.forgotten:
            forgotten.update(Text(f"({activity.forgotten} older events are no longer kept)", style="dim"))
        kept = {event.seq for event in events}
        for seq in [seq for seq in self._event_nodes if seq not in kept]:
            self._event_nodes.pop(seq).remove()
        api = activity.subscription.api if activity is not None and activity.subscription is not None else ""
        for event in events:
            if event.seq not in self._event_nodes:
                self._event_nodes[event.seq] = tree.root.add(self._label(event, api), data=event,
                                                       allow_expand=bool(event.body))
        if not events and not tree.root.children:
            tree.root.add_leaf(Text("Nothing sent to it yet: INVOKE comes with the next invoke (if it registered "
                                    "for INVOKE), telemetry once it has subscribed.", style="dim italic"))
        elif events and tree.root.children and tree.root.children[0].data is None:
            tree.root.children[0].remove()  # the placeholder

    def _show_deliveries(self) -> None:
        snapshot = self._shown
        activity = snapshot.extension(self.extension_name) if snapshot is not None else None
        as_of = self._host_clock.now(snapshot.environment.as_of) if snapshot is not None else 0.0
        text = deliveries_text(activity, as_of)
        deliveries = self.query_one("#deliveries", Static)
        if text != self._deliveries:
            self._deliveries = text
            deliveries.update(Text(text))
            deliveries.display = bool(text)

    def _label(self, event: ReceivedEvent, api: str) -> Text:
        label = Text(no_wrap=True)
        label.append(f"{event.seq:>3} ", style="dim")
        label.append(f"{event_when(event):<26} ", style=theme_color(self, "phase-frozen"))
        if event.kind in (ds.INVOKE, ds.SHUTDOWN):
            style = f"bold {theme_color(self, 'phase-invoke' if event.kind == ds.INVOKE else 'phase-shutdown')}"
        elif event.kind == ds.DROPPED or event.error is not None:
            style = theme_color(self, "phase-error")
        else:
            style = ""
        label.append(event_title(event, api), style=style)
        return label

    # ------------------------------------------------------------------ expanding

    def on_tree_node_expanded(self, message: Tree.NodeExpanded[Any]) -> None:
        self._fill(message.node)

    def _fill(self, node: TreeNode[Any]) -> None:
        """Add a node's children the first time it opens: a batch's records, an event's or a record's JSON."""
        if node.id in self._opened or node.data is None:
            return
        self._opened.add(node.id)
        data = node.data
        if isinstance(data, ReceivedEvent):
            try:
                value = json.loads(data.body)
            except ValueError:
                note = "(as kept: not whole JSON)" if data.kind == ds.BATCH else "(not JSON)"
                node.add_leaf(Text(note, style="dim italic"))
                for line in text_lines(data.body):
                    node.add_leaf(line)
                return
            if data.kind == ds.BATCH and isinstance(value, list):
                for record in value:
                    node.add(Text(record_title(record)), data=_Json(record), allow_expand=True)
                return
        else:
            value = data.value
        for line in json_lines(value):
            node.add_leaf(line)

    def action_open_all(self) -> None:
        for node in self.query_one(Tree).root.children:
            self._open(node)

    def _open(self, node: TreeNode[Any]) -> None:
        if not node.allow_expand:
            return
        self._fill(node)
        node.expand()
        for child in node.children:
            if isinstance(child.data, _Json) and len(node.children) <= 50:
                self._open(child)

    def action_close_all(self) -> None:
        for node in self.query_one(Tree).root.children:
            node.collapse_all()

    def action_close(self) -> None:
        self.dismiss(None)


class _Json:
    """A batch record's JSON, opened into its lines on demand."""

    def __init__(self, value: Any) -> None:
        self.value = value
