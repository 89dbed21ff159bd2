//! The Python kernel run directly, in its two modes: IPython (with the
//! data-science environment on PYTHONPATH) and basic (without it).

mod common;

use common::{ipython_kernel, start, Kernel, Options};
use e2b_native_kernels::{Language, Reply};
use serde_json::json;

/// A kernel on the data-science environment, or None (the reason printed).
fn ipython() -> Option<Kernel> {
    let kernel = ipython_kernel(Options::default())?;
    assert_eq!(kernel.mode(), "ipython", "{:?}", kernel.ready);
    Some(kernel)
}

#[test]
fn without_ipython_the_kernel_says_it_runs_in_basic_mode() {
    let Some(mut k) = start(Language::Python, Options::default()) else {
        return;
    };
    let Reply::Ready { mode, detail } = &k.ready else {
        unreachable!()
    };
    assert_eq!(mode, "basic");
    assert!(
        detail["reason"].as_str().unwrap().contains("IPython"),
        "{detail:?}"
    );

    // State, the last expression's text, display(), errors, counts.
    assert_eq!(k.run("x = 40\nx + 2").text().as_deref(), Some("42"));
    let shown = k.run("display([1, 2])\n'text'");
    let results = shown.results();
    assert_eq!(results.len(), 2);
    assert!(!results[0].is_main_result);
    assert_eq!(results[0].text.as_deref(), Some("[1, 2]"));
    assert_eq!(results[1].text.as_deref(), Some("text"));
    let failed = k.run("def f():\n    return 1 / 0\nf()");
    let error = failed.error().unwrap();
    assert_eq!(
        (error.name.as_str(), error.value.as_str()),
        ("ZeroDivisionError", "division by zero")
    );
    assert!(
        error.traceback.contains("line 2, in f"),
        "{}",
        error.traceback
    );
    assert_eq!(failed.count(), Some(3));
    assert_eq!(
        k.run("await __import__('asyncio').sleep(0); x")
            .text()
            .as_deref(),
        Some("40")
    );
}

#[test]
fn cells_keep_state_count_and_stream() {
    let Some(mut k) = ipython() else { return };
    let first = k.run("x = 1; x");
    assert_eq!(
        (first.count(), first.text()),
        (Some(1), Some("1".to_string()))
    );
    let second = k.run("x += 1; x");
    assert_eq!(
        (second.count(), second.text()),
        (Some(2), Some("2".to_string()))
    );
    // One print, one chunk, as the SDKs' onStdout sees it.
    let printed = k.run("print('hello')\nimport sys; print('oops', file=sys.stderr)");
    assert_eq!(printed.stdout_chunks(), ["hello\n"]);
    assert_eq!(printed.stderr(), "oops\n");
    assert!(printed.results().is_empty());
    // A string's quotes are stripped, as E2B's server does.
    assert_eq!(k.run("'abc'").text().as_deref(), Some("abc"));
    assert_eq!(k.run("x = 5").results().len(), 0);
}

#[test]
fn errors_have_ipython_names_values_and_tracebacks() {
    let Some(mut k) = ipython() else { return };
    let error = k.run("xyz").error().unwrap();
    assert_eq!(error.name, "NameError");
    assert_eq!(error.value, "name 'xyz' is not defined");
    let error = k.run("def f():\n    return 1 / 0\nf()").error().unwrap();
    assert_eq!(error.name, "ZeroDivisionError");
    assert!(
        error.traceback.contains("Cell In[2], line 2, in f"),
        "{}",
        error.traceback
    );
    assert!(
        error
            .traceback
            .ends_with("ZeroDivisionError: division by zero"),
        "{}",
        error.traceback
    );
    assert!(
        !error.traceback.contains("\x1b["),
        "no colours: {}",
        error.traceback
    );
    let error = k.run("x = (").error().unwrap();
    assert_eq!(error.name, "SyntaxError");
    let exited = k.run("raise SystemExit(3)").error().unwrap();
    assert_eq!(
        (exited.name.as_str(), exited.value.as_str()),
        ("SystemExit", "3")
    );
    assert_eq!(
        k.run("1 + 1").text().as_deref(),
        Some("2"),
        "the kernel lives on"
    );
}

#[test]
fn magics_shell_commands_and_top_level_await() {
    let Some(mut k) = ipython() else { return };
    let cwd = std::fs::canonicalize(k.run("import os; os.getcwd()").text().unwrap()).unwrap();
    let pwd = k.run("!pwd");
    assert_eq!(pwd.stdout().trim_end(), cwd.display().to_string());
    assert!(!pwd.stdout().contains('\r'));
    let magic = k.run("%cd /tmp\n%pwd");
    assert_eq!(magic.text().as_deref(), Some("/tmp"));
    assert_eq!(k.run("!echo err >&2").stderr(), "err\n");
    let awaited = k.run("import asyncio\nawait asyncio.sleep(0.01)\n'awaited'");
    assert_eq!(awaited.text().as_deref(), Some("awaited"));
}

#[test]
fn env_vars_apply_to_one_execution() {
    let env = vec![("SANDBOX_WIDE".into(), "yes".into())];
    let Some(mut k) = ipython_kernel(Options {
        env,
        ..Options::default()
    }) else {
        return;
    };
    let with = k.run_with(
        "import os; os.getenv('FOO')",
        &[("FOO", "bar"), ("SANDBOX_WIDE", "over")],
    );
    assert_eq!(with.text().as_deref(), Some("bar"));
    let after = k.run("os.getenv('FOO', 'default'), os.getenv('SANDBOX_WIDE')");
    assert_eq!(after.text().as_deref(), Some("('default', 'yes')"));
}

#[test]
fn the_kernel_starts_in_the_contexts_cwd() {
    let cwd = common::scratch_dir();
    let Some(mut k) = start(
        Language::Python,
        Options {
            cwd: cwd.clone(),
            ..Options::default()
        },
    ) else {
        return;
    };
    let seen = k.run("from pathlib import Path; print(Path.cwd())");
    let cwd = std::fs::canonicalize(cwd).unwrap();
    assert_eq!(seen.stdout(), format!("{}\n", cwd.display()));
}

#[test]
fn sigint_interrupts_only_the_running_cell() {
    let Some(mut k) = ipython() else { return };
    k.run("kept = 'state'");
    let interrupted = k.run_interrupting(
        "import time\nprint('sleeping', flush=True)\ntime.sleep(60)\nkept = 'changed'",
        "sleeping",
    );
    assert_eq!(interrupted.error().unwrap().name, "KeyboardInterrupt");
    assert_eq!(k.run("kept").text().as_deref(), Some("state"));
    // A SIGINT between cells is ignored.
    k.interrupt();
    assert_eq!(k.run("1 + 1").text().as_deref(), Some("2"));
}

#[test]
fn display_data_and_figures_become_results() {
    let Some(mut k) = ipython() else { return };
    let code = "import matplotlib.pyplot as plt\nimport numpy as np\n\
                t = np.linspace(0, 10, 50)\nplt.plot(t, np.cos(t))\nplt.show()\nlen(t)";
    let shown = k.run(code);
    let results = shown.results();
    assert_eq!(results.len(), 2, "the figure, then the value: {results:?}");
    let figure = &results[0];
    assert!(!figure.is_main_result);
    assert!(
        figure.png.as_deref().unwrap().starts_with("iVBOR"),
        "a base64 PNG"
    );
    assert!(figure.text.as_deref().unwrap().starts_with("<Figure size"));
    assert_eq!(figure.chart.as_ref().unwrap()["type"], "line");
    assert!(figure.extra.is_empty());
    assert_eq!(results[1].text.as_deref(), Some("50"));
    assert!(results[1].is_main_result);
    // A figure still open at the end of the cell is shown too; then closed.
    let open = k.run("fig = plt.figure()\nplt.bar(['a', 'b'], [3, 4])\nNone");
    assert_eq!(open.results().len(), 1);
    assert_eq!(k.run("len(plt.get_fignums())").text().as_deref(), Some("0"));
    // Raw MIME data through IPython's display.
    let raw =
        k.run("from IPython.display import display\ndisplay({'text/latex': r'\\alpha'}, raw=True)");
    let raw = &raw.results()[0];
    assert_eq!(raw.latex.as_deref(), Some("\\alpha"));
    assert!(raw.text.is_none() && raw.png.is_none() && raw.extra.is_empty());
    // Lists and dicts carry JSON, HTML objects their HTML.
    let listed = k.run("[1, 2, {'a': 3}]").results().remove(0);
    assert_eq!(listed.json, Some(json!([1, 2, {"a": 3}])));
    let html = k
        .run("from IPython.display import HTML\nHTML('<b>hi</b>')")
        .results()
        .remove(0);
    assert_eq!(html.html.as_deref(), Some("<b>hi</b>"));
}

#[test]
fn dataframes_give_html_and_data() {
    let Some(mut k) = ipython() else { return };
    let frame = k.run(
        "import pandas as pd\n\
         pd.DataFrame({'a': [1, 2, 3], 'b': [0.5, float('nan'), 2.0],\n\
                       'when': pd.to_datetime(['2024-01-01', '2024-01-02', '2024-01-03'])})",
    );
    let result = frame.results().remove(0);
    assert!(result.is_main_result);
    assert!(result.html.as_deref().unwrap().contains("<table"));
    let data = result.data.unwrap();
    assert_eq!(data["a"], json!([1, 2, 3]));
    assert_eq!(
        data["b"],
        json!([0.5, null, 2.0]),
        "NaN becomes null (JSON has no NaN)"
    );
    assert_eq!(data["when"][0], "2024-01-01T00:00:00");
    // Other values carry no data.
    assert!(k.run("pd.Series([1, 2])").results()[0].data.is_none());
}

#[test]
fn pil_images_show_as_png() {
    let Some(mut k) = ipython() else { return };
    let setup = "from PIL import Image\nimage = Image.new('RGB', (8, 8), 'red')";
    k.run(setup);
    let shown = k.run("image.show()\nprint('shown')");
    assert!(shown.results()[0].png.is_some(), "{shown:?}");
    assert_eq!(shown.stdout(), "shown\n");
    assert!(k.run("image").results()[0].png.is_some());
    let saved = k.run("image.save('red.png')");
    assert!(saved.results()[0].png.is_some());
    assert_eq!(
        k.run("import os; os.path.getsize('red.png') > 0")
            .text()
            .as_deref(),
        Some("True")
    );
}
