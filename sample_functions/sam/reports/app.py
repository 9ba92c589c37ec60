"""The template's second function: with two, lambdatui asks which one (--function)."""


def handler(event, context):
    return {"report": "daily", "function": context.function_name}
