"""The smallest possible function: one log line, echo the event back.

Start here to see the whole lifecycle once: Init (import this module),
Invoke (call `handler`), then the environment freezes until the next event.
"""


def handler(event, context):
    # stdout is the function log: in Lambda it goes to CloudWatch, in
    # lambdatui to the log pane, tagged with this invocation's request id.
    print(f"hello: received {event!r}")
    return {"message": "hello", "event": event}
