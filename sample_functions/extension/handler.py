"""The function half of the extension sample; the interesting part is extensions/audit.

The audit extension gets an INVOKE event carrying this same request id, but
never the payload: extensions see *that* the function ran, not *what* it got.
"""


def handler(event, context):
    print(f"function: handling {context.aws_request_id}")
    return {"requestId": context.aws_request_id}
