# The Python kernel: one per code context. Requests arrive as JSON lines on
# fd 3 ({"code", "env"}); replies go out as JSON lines on fd 4: "ready" once
# (naming the mode), then per execution "started", "display" (a MIME bundle,
# `main` for the last expression's value), "error", "done". The code's output
# goes to fds 1 and 2. SIGINT interrupts the running execution only.
#
# With IPython importable (the data-science environment on PYTHONPATH) cells
# run in IPython's InteractiveShell: its display formatters, magics, `!cmd`,
# top-level await, matplotlib's inline backend and E2B's chart and data
# formatters. Without it, a basic mode keeps state, shows the last
# expression's text and supports display(); the "ready" reply says which.
import base64
import json
import math
import os
import signal
import sys


def _kernel():
    requests = os.fdopen(3, "rb")
    replies = os.fdopen(4, "wb", buffering=0)
    for fd in (3, 4):
        os.set_inheritable(fd, False)  # not for the code's subprocesses
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)

    def send(message):
        replies.write(_encode(message) + b"\n")

    # SIGINT raises KeyboardInterrupt while a cell runs (Python's own handler,
    # so no kernel frame shows in the traceback) and is ignored in between.
    idle = lambda signum, frame: None  # noqa: E731
    signal.signal(signal.SIGINT, idle)
    try:
        engine = _IPythonEngine(send)
    except ImportError as exc:
        engine = _BasicEngine(send, "IPython is not importable (%s)" % exc)
    send(dict(type="ready", **engine.describe()))

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
        saved = {}
        try:
            send({"type": "started", "count": engine.count()})
            for key, value in (request.get("env") or {}).items():
                saved[key] = os.environ.get(key)
                os.environ[key] = value
            signal.signal(signal.SIGINT, signal.default_int_handler)
            engine.run(request.get("code", ""))
        except BaseException as exc:  # an interrupt outside the cell's own code
            signal.signal(signal.SIGINT, idle)
            send(_error(type(exc).__name__, str(exc), ""))
        finally:
            signal.signal(signal.SIGINT, idle)
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


def _encode(message):
    try:
        return json.dumps(message, allow_nan=False, default=_plain).encode()
    except ValueError:  # NaN or infinity, which JSON cannot carry: null
        return json.dumps(_finite(message), default=_plain).encode()


def _plain(value):
    """What JSON gets for a value it cannot encode (numpy scalars, arrays)."""
    for method in ("item", "tolist", "isoformat"):
        if callable(getattr(value, method, None)):
            return getattr(value, method)()
    return str(value)


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "tolist"):
        return _finite(value.tolist())
    return value


def _error(name, value, traceback):
    return {"type": "error", "name": name, "value": value, "traceback": traceback}


def _bundle(data):
    """A MIME bundle as JSON: binary images in base64, as Jupyter sends them."""
    out = {}
    for mime, value in data.items():
        if isinstance(value, bytes):
            value = base64.b64encode(value).decode()
        out[mime] = value
    return out


class _IPythonEngine:
    def __init__(self, send):
        import tempfile

        from IPython.core.displayhook import DisplayHook
        from IPython.core.displaypub import DisplayPublisher
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets import Type
        from traitlets.config import Config

        def flush():
            sys.stdout.flush()
            sys.stderr.flush()

        class Hook(DisplayHook):
            # The last expression's value: a main result, not "Out[n]:".
            def write_output_prompt(self):
                pass

            def write_format_data(self, format_dict, md_dict=None):
                flush()
                send({"type": "display", "main": True, "bundle": _bundle(format_dict)})

            def finish_displayhook(self):
                flush()

        class Publisher(DisplayPublisher):
            # display(), plt.show() and figures open at the cell's end.
            def publish(self, data, metadata=None, *args, **kwargs):
                flush()
                send({"type": "display", "main": False, "bundle": _bundle(data)})

            def clear_output(self, wait=False):
                pass

        class Shell(InteractiveShell):
            displayhook_class = Type(Hook)
            display_pub_class = Type(Publisher)

            def _showtraceback(self, etype, evalue, stb):
                flush()
                # As E2B: Jupyter's traceback lines, joined.
                send(_error(etype.__name__, str(evalue), "\n".join(stb)))

            def enable_gui(self, gui=None):
                pass  # no GUI event loops in a sandbox

            def ask_exit(self):
                raise SystemExit  # exit() ends the cell, reported as SystemExit

            def system(self, cmd):
                # `!cmd` with the kernel's stdout and stderr (no pty: no
                # "\r\n", stderr kept apart); SIGINT reaches it.
                import subprocess

                flush()
                shell = os.environ.get("SHELL") or "/bin/sh"
                command = self.var_expand(cmd, depth=1)
                self.user_ns["_exit_code"] = subprocess.call(command, shell=True, executable=shell)

        config = Config()
        config.InteractiveShell.colors = "nocolor"
        config.PlainTextFormatter.max_seq_length = 0  # whole lists, as E2B
        config.HistoryManager.enabled = False  # no history file
        ipython_dir = tempfile.mkdtemp(prefix="ipython-")
        self.shell = Shell.instance(config=config, ipython_dir=ipython_dir)
        # Figures as the inline backend shows them, once matplotlib is used.
        os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
        _add_e2b_formatters(self.shell)
        _hook_pil()
        # sys.exit() in a cell is reported as SystemExit, as in the basic
        # kernel; IPython's hint for terminal users would be noise on stderr.
        import warnings
        warnings.filterwarnings("ignore", message="To exit: use 'exit', 'quit', or Ctrl-D.")

    def describe(self):
        import IPython

        missing = [m for m in ("matplotlib", "pandas", "e2b_charts") if not _importable(m)]
        return {"mode": "ipython", "version": IPython.__version__, "missing": missing}

    def count(self):
        return self.shell.execution_count

    def run(self, code):
        self.shell.run_cell(code, store_history=True)


def _importable(name):
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _add_e2b_formatters(shell):
    """E2B's `e2b/data` (DataFrames), `e2b/chart` (matplotlib figures) and
    JSON (lists and dicts) formatters, as in its template's startup scripts."""
    from IPython.core.formatters import BaseFormatter, JSONFormatter
    from traitlets import ObjectName, Unicode

    class DataFormatter(BaseFormatter):
        format_type = Unicode("e2b/data")
        print_method = ObjectName("_repr_e2b_data_")
        _return_type = (dict, str)

        def __call__(self, obj):
            pandas = sys.modules.get("pandas")  # no DataFrame without it
            if pandas is None or not isinstance(obj, pandas.DataFrame):
                return super().__call__(obj)
            columns = obj.to_dict(orient="list")
            return {
                key: [v.isoformat() if isinstance(v, pandas.Timestamp) else v for v in values]
                for key, values in columns.items()
            }

    class ChartFormatter(BaseFormatter):
        format_type = Unicode("e2b/chart")
        print_method = ObjectName("_repr_e2b_chart_")
        _return_type = (dict, str)

        def __call__(self, obj):
            if "matplotlib" not in sys.modules:
                return super().__call__(obj)
            from matplotlib.figure import Figure

            if not isinstance(obj, Figure):
                return super().__call__(obj)
            try:
                from e2b_charts import chart_figure_to_dict

                return chart_figure_to_dict(obj)
            except Exception:
                return {}  # a figure e2b_charts cannot read: no chart

    class E2BJSONFormatter(JSONFormatter):
        def __call__(self, obj):
            if isinstance(obj, (list, dict)):
                try:
                    import orjson

                    options = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
                    return orjson.loads(orjson.dumps(obj, option=options)), {"expanded": True}
                except (ImportError, TypeError):
                    pass
            return super().__call__(obj)

    formatters = shell.display_formatter.formatters
    formatters["e2b/data"] = DataFormatter(parent=shell.display_formatter)
    formatters["e2b/chart"] = ChartFormatter(parent=shell.display_formatter)
    formatters["application/json"] = E2BJSONFormatter(parent=shell.display_formatter)


def _hook_pil():
    """As E2B's template: Image.show() displays the image (not a viewer) and
    Image.save(path) displays it too."""
    try:
        from IPython.display import display
        from PIL.Image import Image
        from PIL.ImageShow import UnixViewer
    except ImportError:
        return
    UnixViewer.show_file = lambda self, path, **options: 0
    save = Image.save

    def save_and_display(image, fp, format=None, **params):
        if isinstance(fp, str):
            display(image)
        return save(image, fp, format, **params)

    Image.save = save_and_display


class _BasicEngine:
    """Cells without IPython: state, the last expression's text, display()."""

    def __init__(self, send, reason):
        import builtins
        import types

        self.send = send
        self.reason = reason
        self.executions = 0
        main = types.ModuleType("__main__")
        main.__dict__["__builtins__"] = builtins
        main.__dict__["display"] = self.display
        sys.modules["__main__"] = main
        self.namespace = main.__dict__
        self.loop = None

    def describe(self):
        return {"mode": "basic", "reason": self.reason}

    def count(self):
        return self.executions + 1

    def bundle(self, value):
        data = {"text/plain": repr(value)}
        for method, mime in (
            ("_repr_html_", "text/html"),
            ("_repr_markdown_", "text/markdown"),
            ("_repr_svg_", "image/svg+xml"),
            ("_repr_png_", "image/png"),
            ("_repr_jpeg_", "image/jpeg"),
            ("_repr_latex_", "text/latex"),
            ("_repr_json_", "application/json"),
        ):
            try:
                render = getattr(value, method, None)
                out = render() if callable(render) else None
            except Exception:
                out = None
            if isinstance(out, tuple):
                out = out[0]
            if out is not None:
                data[mime] = out
        return _bundle(data)

    def display(self, *objects, **_):
        for obj in objects:
            self.send({"type": "display", "main": False, "bundle": self.bundle(obj)})

    def evaluate(self, code):
        if code.co_flags & 0x80:  # CO_COROUTINE: top-level await
            import asyncio

            if self.loop is None:
                self.loop = asyncio.new_event_loop()
            return self.loop.run_until_complete(eval(code, self.namespace))
        return eval(code, self.namespace)

    def run(self, source):
        import ast
        import linecache
        import traceback

        self.executions += 1
        filename = "<cell-%d>" % self.executions
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        try:
            tree = compile(source, filename, "exec", flags=ast.PyCF_ONLY_AST | flags)
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = ast.Expression(tree.body.pop().value)
            self.evaluate(compile(tree, filename, "exec", flags=flags))
            if last is not None:
                value = self.evaluate(compile(last, filename, "eval", flags=flags))
                if value is not None:
                    self.namespace["_"] = value
                    self.send({"type": "display", "main": True, "bundle": self.bundle(value)})
        except BaseException as exc:  # SystemExit and KeyboardInterrupt too
            tb = exc.__traceback__
            while tb is not None and tb.tb_frame.f_code.co_filename == "<string>":
                tb = tb.tb_next  # the kernel's own frames
            lines = traceback.format_exception(type(exc), exc, tb)
            self.send(_error(type(exc).__name__, str(exc), "".join(lines)))


_kernel()
