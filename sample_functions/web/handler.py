"""A small web site behind a function URL: one Lambda function, routed by path.

Serve it with `lambdatui serve sample_functions/web --url-port 8080` and open http://127.0.0.1:8080/.
Lambda turns each HTTP request into an event (payload format 2.0: `rawPath`, `queryStringParameters`,
`headers`, `cookies`, `body`) and the handler's return value back into the HTTP response:

    /                 an HTML page (statusCode, headers, body)
    /hello?name=you   a plain dict: without statusCode, Lambda answers 200 application/json with it
    /cookie           sets a cookie (the response's `cookies` become Set-Cookie headers) and reads it back
    /binary           a PNG: binary bodies travel base64-encoded, with isBase64Encoded: true
    /event            the event itself, to see what Lambda made of the request
    /echo             the request body back, as it came (POST one; binary ones arrive base64-encoded)
    /boom             raises: the client gets 502 Internal Server Error, the traceback is in the log
"""

import base64
import json
import struct
import zlib

served = 0  # module globals survive between invokes of a warm environment


def _png(size=16):
    """A small gradient PNG, made with the standard library only."""
    # Each row: filter type 0, then one red-green-blue pixel per column.
    rows = b"".join(b"\x00" + b"".join(bytes((x * 255 // size, y * 255 // size, 160)) for x in range(size))
                    for y in range(size))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PNG = _png()  # made once, at Init

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>lambdatui function URL</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto">
<h1>Hello from a function URL</h1>
<p>This page is the return value of <code>handler()</code>; this environment has served {served} request(s).</p>
<ul>
<li><a href="/hello?name=workshop">/hello?name=workshop</a>: JSON, inferred from a plain dict</li>
<li><a href="/cookie">/cookie</a>: sets a cookie (reload it to count visits)</li>
<li><a href="/binary">/binary</a>: <img src="/binary" width="32" height="32" alt="a PNG"> a PNG, base64 in the
response</li>
<li><a href="/event?a=1&amp;a=2">/event?a=1&amp;a=2</a>: the event Lambda built from the request</li>
<li><a href="/boom">/boom</a>: the handler raises, the client gets 502</li>
</ul>
</body></html>
"""


def handler(event, context):
    global served
    served += 1
    path = event.get("rawPath", "/")
    method = event.get("requestContext", {}).get("http", {}).get("method", "GET")
    print(f"{method} {path} (request {served} in this environment)")
    if path == "/":
        return {"statusCode": 200, "headers": {"Content-Type": "text/html; charset=utf-8"},
                "body": PAGE.format(served=served)}
    if path == "/hello":
        name = (event.get("queryStringParameters") or {}).get("name", "world")
        return {"message": f"Hello, {name}!", "cookies": event.get("cookies", [])}
    if path == "/cookie":
        visits = 0
        for cookie in event.get("cookies", []):
            key, _, value = cookie.partition("=")
            if key == "visits" and value.isdigit():
                visits = int(value)
        visits += 1
        return {"statusCode": 200, "headers": {"Content-Type": "text/plain; charset=utf-8"},
                "cookies": [f"visits={visits}; Path=/; Max-Age=3600", "seen=yes; Path=/"],
                "body": f"visit number {visits}\n"}
    if path == "/binary":
        return {"statusCode": 200, "headers": {"Content-Type": "image/png"},
                "body": base64.b64encode(PNG).decode(), "isBase64Encoded": True}
    if path == "/event":
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
                "body": json.dumps(event, indent=2)}
    if path == "/echo":
        content_type = event.get("headers", {}).get("content-type", "application/octet-stream")
        return {"statusCode": 200, "headers": {"Content-Type": content_type,
                                               "X-Was-Base64": str(event["isBase64Encoded"]).lower()},
                "body": event.get("body", ""), "isBase64Encoded": event["isBase64Encoded"]}
    if path == "/boom":
        raise RuntimeError(f"boom: {method} {path} failed on purpose")
    return {"statusCode": 404, "headers": {"Content-Type": "text/plain"}, "body": f"nothing at {path}\n"}
