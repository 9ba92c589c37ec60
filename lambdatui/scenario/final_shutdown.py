"""The replay's end: the shutdown lambdatui gives the environments left once the steps are over, printed.

`invoke` prints its final shutdown (an extension's output as it handles SHUTDOWN, lambdatui's line for a process
SIGKILLed when its share of the budget is up) because its console listens until the run is over. The scenario
runner's printer listens only while the steps run, and that shutdown comes after them, in `open_environment`'s
exit: without a listener of its own, what the replay's environments said as they ended was lost.
"""

from __future__ import annotations

from typing import Callable

from lambdatui.host.debug_session import DebugSession
from lambdatui.model.facts import Fact
from lambdatui.scenario.checks import alive
from lambdatui.scenario.report import TimelinePrinter


def print_final_shutdown(session: DebugSession, printer: TimelinePrinter) -> Callable[[], None]:
    """Open the end's block and write the final shutdown there, as a `shutdown` step's block is written, until the
    returned function is called (once the run is over: the shutdown itself runs after the caller's block).

    Called with no checkpoint since the steps stopped listening (run_scenario's end, or the cancellation of a run
    stopped by a signal), so no fact falls between the two listeners.
    """
    left = alive(session)
    if left:
        # Said only when something is left: a scenario that ended with a `shutdown` step has nothing to shut down.
        printer.raw(f"-- end: lambdatui exits; the {'environment' if left == 1 else f'{left} environments'} left "
                    f"{'is' if left == 1 else 'are'} shut down (SHUTDOWN spindown)")
    # One never started, not counted above, ends too: its lines would speak of an environment the replay never had.
    unlisted = session.fleet.unstarted_numbers()
    if not unlisted:
        return session.fleet.subscribe_numbered(printer.numbered)

    def listed(number: int, fact: Fact) -> None:
        if number not in unlisted:
            printer.numbered(number, fact)

    return session.fleet.subscribe_numbered(listed)
