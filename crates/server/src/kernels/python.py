# The Python kernel of `e2b-native serve`: one per code context, in the
# sandbox, as the sandbox user. Requests arrive as JSON lines on fd 3
# ({"code", "env"}); replies go out as JSON lines on fd 4 ("started",
# "result", "error", "done"); the code's output goes to fds 1 and 2 as usual.
# State lives in one namespace across executions (a fresh `__main__`);
# SIGINT interrupts the running execution only.
import ast
import base64
import builtins
import json
import linecache
import os
import signal
import sys
import traceback
import types


def _kernel():
    requests = os.fdopen(3, "rb")
    replies = os.fdopen(4, "wb", buffering=0)
    for fd in (3, 4):
        os.set_inheritable(fd, False)  # not for the code's subprocesses
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)

    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main
    namespace = main.__dict__
    state = {"running": False, "loop": None}

    def send(message):
        replies.write((json.dumps(message, default=str) + "\n").encode())

    def on_sigint(signum, frame):
        if state["running"]:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)

    formats = (
        ("_repr_html_", "html"),
        ("_repr_markdown_", "markdown"),
        ("_repr_svg_", "svg"),
        ("_repr_png_", "png"),
        ("_repr_jpeg_", "jpeg"),
        ("_repr_latex_", "latex"),
        ("_repr_json_", "json"),
        ("_repr_javascript_", "javascript"),
    )

    def result(value, is_main):
        message = {"type": "result", "is_main_result": is_main, "extra": {}}
        text = repr(value)
        # As E2B's server: a string's quotes are stripped.
        if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
            text = text[1:-1]
        message["text"] = text
        for method, key in formats:
            try:
                render = getattr(value, method, None)
                out = render() if callable(render) else None
            except Exception:
                out = None
            if isinstance(out, tuple):
                out = out[0]
            if isinstance(out, bytes):
                out = base64.b64encode(out).decode()
            if out is not None:
                message[key] = out
        return message

    def display(*objects, **_):
        for obj in objects:
            send(result(obj, False))

    namespace["display"] = display

    def run(code):
        if code.co_flags & 0x80:  # CO_COROUTINE: top-level await
            import asyncio

            if state["loop"] is None:
                state["loop"] = asyncio.new_event_loop()
            return state["loop"].run_until_complete(eval(code, namespace))
        return eval(code, namespace)

    def execute(source, count):
        filename = "<cell-%d>" % count
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        flags = getattr(ast, "PyCF_ALLOW_TOP_LEVEL_AWAIT", 0)
        tree = compile(source, filename, "exec", flags=ast.PyCF_ONLY_AST | flags)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        run(compile(tree, filename, "exec", flags=flags))
        if last is not None:
            value = run(compile(last, filename, "eval", flags=flags))
            if value is not None:
                namespace["_"] = value
                send(result(value, True))

    def error(exc):
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == "<string>":
            tb = tb.tb_next  # the kernel's own frames
        lines = traceback.format_exception(type(exc), exc, tb)
        send(
            {
                "type": "error",
                "name": type(exc).__name__,
                "value": str(exc),
                "traceback": "".join(lines),
            }
        )

    count = 0
    while True:
        try:
            line = requests.readline()
        except KeyboardInterrupt:
            continue
        if not line:
            return
        try:
            request = json.loads(line)
        except ValueError:
            continue
        count += 1
        saved = {}
        try:
            send({"type": "started", "count": count})
            for key, value in (request.get("env") or {}).items():
                saved[key] = os.environ.get(key)
                os.environ[key] = value
            state["running"] = True
            execute(request.get("code", ""), count)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt too
            state["running"] = False
            try:
                error(exc)
            except BaseException:
                pass
        finally:
            state["running"] = False
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:
                    pass
            send({"type": "done"})


_kernel()
