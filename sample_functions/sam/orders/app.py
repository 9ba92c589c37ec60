"""Takes an order: what it got from its template (environment) and its event."""

import os


def handler(event, context):
    return {
        "order": event.get("id"),
        "items": len(event.get("items", [])),
        "stage": os.environ.get("STAGE"),
        "greeting": os.environ.get("GREETING"),
        "table": os.environ.get("TABLE_ARN"),
        "memory_mb": context.memory_limit_in_mb,
    }
