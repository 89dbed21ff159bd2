# A matplotlib backend for one-shot Python runs (named by a matplotlibrc the
# host puts in the run's work dir, `backend: module://e2b_native_figures`):
# plt.show() appends each open figure as a kernel "display" reply line (PNG,
# and E2B's chart where e2b_charts reads the figure, as the kernel's chart
# formatter does) to RESULTS in the work dir (HOME), then closes it, as the
# inline backend does. The host decodes the lines as it decodes the kernels'
# replies (e2b_native_kernels::figures).
import base64
import io
import json
import os

from matplotlib.backend_bases import FigureManagerBase as FigureManager  # noqa: F401
from matplotlib.backends.backend_agg import FigureCanvasAgg as FigureCanvas  # noqa: F401

RESULTS = ".e2b-native-figures.jsonl"


def _plain(value):
    for method in ("item", "tolist", "isoformat"):
        if callable(getattr(value, method, None)):
            return getattr(value, method)()
    return str(value)


def _line(bundle):
    message = {"type": "display", "main": False, "bundle": bundle}
    try:
        return json.dumps(message, allow_nan=False, default=_plain)
    except ValueError:  # NaN in the chart, which JSON cannot carry: no chart
        bundle.pop("e2b/chart", None)
        return json.dumps(message, default=_plain)


def _bundle(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    bundle = {
        "text/plain": repr(figure),
        "image/png": base64.b64encode(buffer.getvalue()).decode(),
    }
    try:
        from e2b_charts import chart_figure_to_dict

        chart = chart_figure_to_dict(figure)
        if chart:
            bundle["e2b/chart"] = chart
    except Exception:
        pass  # a figure e2b_charts cannot read: no chart
    return bundle


def show(*args, **kwargs):
    from matplotlib._pylab_helpers import Gcf

    # In the work dir, whatever path the tier gives it.
    path = os.path.join(os.path.expanduser("~"), RESULTS)
    for manager in Gcf.get_all_fig_managers():
        try:
            with open(path, "a") as out:
                out.write(_line(_bundle(manager.canvas.figure)) + "\n")
        except OSError:
            pass  # a full disk: the figure is not a result
    Gcf.destroy_all()
