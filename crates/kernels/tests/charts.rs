//! Matplotlib figures as E2B's typed charts (through `e2b_charts`), one
//! kind each, with the data-science environment on PYTHONPATH.

mod common;

use common::{ipython_kernel, Kernel, Options};
use serde_json::Value;

/// The chart of the first result of `code`, run in a fresh IPython kernel.
fn chart(code: &str) -> Option<Value> {
    let mut k: Kernel = ipython_kernel(Options::default())?;
    let code = format!(
        "import matplotlib.pyplot as plt\nimport numpy as np\nimport datetime\n{code}\nplt.show()"
    );
    let run = k.run(&code);
    assert!(run.error().is_none(), "{run:?}");
    let result = run.results().into_iter().next().expect("a figure");
    assert!(result.png.is_some());
    Some(result.chart.expect("a chart"))
}

fn all(values: &Value, test: impl Fn(&Value) -> bool) -> bool {
    values.as_array().unwrap().iter().all(test)
}

#[test]
fn line_chart_with_datetime_x_and_units() {
    let Some(chart) = chart(
        "start = datetime.datetime(2024, 3, 1)\n\
         when = [start + datetime.timedelta(minutes=i) for i in range(30)]\n\
         plt.plot(when, np.arange(30) ** 0.5, label='root')\n\
         plt.plot(when, np.arange(30) / 10, label='linear')\n\
         plt.xlabel('Time (min)')\nplt.ylabel('Level (m)')\nplt.title('Growth')",
    ) else {
        return;
    };
    assert_eq!(chart["type"], "line");
    assert_eq!(chart["title"], "Growth");
    assert_eq!(
        (&chart["x_label"], &chart["y_label"]),
        (&"Time (min)".into(), &"Level (m)".into())
    );
    assert_eq!(
        (&chart["x_unit"], &chart["y_unit"]),
        (&"min".into(), &"m".into())
    );
    assert_eq!(
        (&chart["x_scale"], &chart["y_scale"]),
        (&"datetime".into(), &"linear".into())
    );
    assert!(all(&chart["x_ticks"], Value::is_string));
    assert!(all(&chart["y_ticks"], Value::is_number));
    assert!(all(&chart["x_tick_labels"], Value::is_string));
    let lines = chart["elements"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (&lines[0]["label"], &lines[1]["label"]),
        (&"root".into(), &"linear".into())
    );
    assert_eq!(lines[0]["points"].as_array().unwrap().len(), 30);
    assert!(lines[0]["points"][0][0]
        .as_str()
        .unwrap()
        .starts_with("2024-03-01T00:00:00"));
    assert!(all(&lines[1]["points"], |p| p[0].is_string()
        && p[1].is_number()));
}

#[test]
fn bar_chart() {
    let Some(chart) = chart(
        "plt.bar(['north', 'south', 'east'], [12, 7, 30], label='units')\n\
         plt.xlabel('Region')\nplt.ylabel('Sold')\nplt.title('Sales')",
    ) else {
        return;
    };
    assert_eq!(chart["type"], "bar");
    assert_eq!(chart["title"], "Sales");
    assert_eq!(
        (&chart["x_label"], &chart["y_label"]),
        (&"Region".into(), &"Sold".into())
    );
    assert!(chart["x_unit"].is_null() && chart["y_unit"].is_null());
    let bars = chart["elements"].as_array().unwrap();
    let labels: Vec<&str> = bars.iter().map(|b| b["label"].as_str().unwrap()).collect();
    let values: Vec<f64> = bars.iter().map(|b| b["value"].as_f64().unwrap()).collect();
    assert_eq!(labels, ["north", "south", "east"]);
    assert_eq!(values, [12.0, 7.0, 30.0]);
    assert!(bars.iter().all(|b| b["group"] == "units"));
}

#[test]
fn scatter_chart() {
    let Some(chart) = chart(
        "plt.scatter([1, 2, 3], [4, 5, 6], label='first')\n\
         plt.scatter([1, 2, 3, 4], [1, 1, 2, 3], label='second')\nplt.xlabel('u')\nplt.ylabel('v')",
    ) else {
        return;
    };
    assert_eq!(chart["type"], "scatter");
    assert!(chart["title"].is_null());
    assert_eq!(
        (&chart["x_label"], &chart["y_label"]),
        (&"u".into(), &"v".into())
    );
    let sets = chart["elements"].as_array().unwrap();
    assert_eq!(sets.len(), 2);
    assert_eq!(sets[0]["label"], "first");
    assert_eq!(sets[1]["points"].as_array().unwrap().len(), 4);
    assert!(all(&sets[0]["points"], |p| p[0].is_number() && p[1].is_number()));
}

#[test]
fn pie_chart() {
    let Some(chart) = chart(
        "fig, ax = plt.subplots()\nax.pie([75, 25], labels=['yes', 'no'], startangle=90)\nplt.title('Votes')",
    ) else {
        return;
    };
    assert_eq!(chart["type"], "pie");
    assert_eq!(chart["title"], "Votes");
    let slices = chart["elements"].as_array().unwrap();
    assert_eq!(
        (&slices[0]["label"], slices[0]["angle"].as_f64()),
        (&"yes".into(), Some(270.0))
    );
    assert_eq!(
        (&slices[1]["label"], slices[1]["angle"].as_f64()),
        (&"no".into(), Some(90.0))
    );
    assert_eq!(slices[0]["radius"].as_f64(), Some(1.0));
}

#[test]
fn box_and_whisker_chart() {
    // Boxes of different heights and whiskers of some length: e2b_charts
    // takes equal boxes for horizontal ones and misses zero-length whiskers.
    let Some(chart) = chart(
        "fig, ax = plt.subplots()\n\
         ax.boxplot([[3, 5, 6, 7, 9], [10, 12, 14, 16, 19, 40]], tick_labels=['low', 'high'],
                    patch_artist=True)\n\
         ax.set_title('Spread')\nax.set_xlabel('Group')\nax.set_ylabel('Value')",
    ) else {
        return;
    };
    assert_eq!(chart["type"], "box_and_whisker");
    assert_eq!(chart["title"], "Spread");
    let boxes = chart["elements"].as_array().unwrap();
    assert_eq!(
        (&boxes[0]["label"], &boxes[1]["label"]),
        (&"low".into(), &"high".into())
    );
    assert_eq!(boxes[0]["median"], 6.0);
    assert_eq!(
        (&boxes[0]["min"], &boxes[0]["max"]),
        (&3.0.into(), &9.0.into())
    );
    assert_eq!(
        (&boxes[0]["first_quartile"], &boxes[0]["third_quartile"]),
        (&5.0.into(), &7.0.into())
    );
    assert_eq!(
        (&boxes[1]["median"], &boxes[1]["max"]),
        (&15.0.into(), &19.0.into())
    );
    assert_eq!(boxes[1]["outliers"], serde_json::json!([40.0]));
}

#[test]
fn superchart_of_several_axes() {
    let Some(chart) = chart(
        "fig, (left, right) = plt.subplots(1, 2)\nfig.suptitle('Both')\n\
         left.plot([0, 1, 2], [2, 1, 0])\nleft.set_title('Down')\n\
         right.scatter([1, 2], [3, 4])\nright.set_title('Dots')\nright.set_xlabel('x')",
    ) else {
        return;
    };
    assert_eq!(chart["type"], "superchart");
    assert_eq!(chart["title"], "Both");
    let charts = chart["elements"].as_array().unwrap();
    assert_eq!(
        (&charts[0]["type"], &charts[0]["title"]),
        (&"line".into(), &"Down".into())
    );
    assert_eq!(
        (&charts[1]["type"], &charts[1]["title"]),
        (&"scatter".into(), &"Dots".into())
    );
    assert_eq!(charts[1]["x_label"], "x");
    assert_eq!(
        charts[0]["elements"][0]["points"].as_array().unwrap().len(),
        3
    );
}

#[test]
fn log_scale() {
    let Some(chart) = chart(
        "x = np.linspace(1, 10, 20)\nplt.plot(x, 10 ** x, label='growth')\nplt.yscale('log')\n\
         plt.ylabel('Size (log scale)')\nplt.title('Log')",
    ) else {
        return;
    };
    assert_eq!(chart["type"], "line");
    assert_eq!(
        (&chart["x_scale"], &chart["y_scale"]),
        (&"linear".into(), &"log".into())
    );
    assert_eq!(chart["y_unit"], "log scale");
    assert!(all(&chart["y_ticks"], Value::is_number));
    assert_eq!(chart["elements"][0]["points"].as_array().unwrap().len(), 20);
}

#[test]
fn categorical_scale() {
    let Some(chart) = chart("plt.plot([1, 2, 3], ['low', 'mid', 'high'])") else {
        return;
    };
    assert_eq!(chart["type"], "line");
    assert_eq!(
        (&chart["x_scale"], &chart["y_scale"]),
        (&"linear".into(), &"categorical".into())
    );
}

#[test]
fn unknown_chart() {
    let Some(chart) = chart(
        "fig, ax = plt.subplots()\nax.add_artist(plt.Circle((0, 0), 1, fill=False))\nplt.title('Ring')",
    ) else {
        return;
    };
    assert_eq!(chart["type"], "unknown");
    assert_eq!(chart["title"], "Ring");
    assert_eq!(chart["elements"].as_array().unwrap().len(), 0);
}
