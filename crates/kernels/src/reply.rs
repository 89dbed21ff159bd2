//! What kernels send back (replies on their fd 4) and what the code
//! interpreter streams to clients (E2B's `/execute` events).

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::KernelError;

/// One reply line of a kernel.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    /// Sent once, first: the kernel runs, and in which mode (e.g. Python's
    /// `ipython` or `basic`), with details such as the reason for `basic`.
    Ready {
        mode: String,
        #[serde(flatten)]
        detail: Map<String, Value>,
    },
    /// The execution started; its number in the context (from 1).
    Started {
        count: u64,
    },
    /// A MIME bundle: the last expression's value (`main`) or display data.
    Display {
        main: bool,
        bundle: Map<String, Value>,
    },
    Error(ExecutionError),
    /// The execution is over; every byte it wrote to fds 1 and 2 is in the pipes.
    Done,
}

impl Reply {
    /// Decodes one line (without its newline).
    pub fn parse(line: &[u8]) -> Result<Reply, KernelError> {
        serde_json::from_slice(line).map_err(|source| KernelError::BadReply {
            line: String::from_utf8_lossy(&line[..line.len().min(200)]).into_owned(),
            source,
        })
    }

    /// The client event this reply becomes, if any.
    pub fn into_event(self) -> Option<Event> {
        match self {
            Reply::Started { count } => Some(Event::NumberOfExecutions {
                execution_count: count,
            }),
            Reply::Display { main, bundle } => Some(Event::Result(Box::new(
                ExecutionResult::from_bundle(bundle, main),
            ))),
            Reply::Error(error) => Some(Event::Error(error)),
            Reply::Ready { .. } | Reply::Done => None,
        }
    }
}

/// An exception of the code, as E2B reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionError {
    pub name: String,
    pub value: String,
    pub traceback: String,
}

/// One line of E2B's `/execute` stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    NumberOfExecutions {
        execution_count: u64,
    },
    /// A chunk of output as written (it carries its own newlines).
    Stdout {
        text: String,
        timestamp: String,
    },
    Stderr {
        text: String,
        timestamp: String,
    },
    Result(Box<ExecutionResult>),
    Error(ExecutionError),
    Keepalive,
    EndOfExecution,
}

impl Event {
    /// A chunk of the code's stdout (`stdout`) or stderr, stamped now.
    pub fn output(stdout: bool, text: String) -> Event {
        let timestamp = rfc3339(SystemTime::now());
        match stdout {
            true => Event::Stdout { text, timestamp },
            false => Event::Stderr { text, timestamp },
        }
    }

    /// The event as one NDJSON line, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).expect("events serialize");
        line.push(b'\n');
        line
    }
}

/// A result: E2B's fields for the MIME types it knows; `extra` holds the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub markdown: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub svg: Option<String>,
    /// Base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub png: Option<String>,
    /// Base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jpeg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pdf: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub javascript: Option<String>,
    /// E2B's `e2b/data`: a DataFrame's columns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// E2B's `e2b/chart`: a matplotlib figure as a typed chart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chart: Option<Value>,
    #[serde(default)]
    pub extra: Map<String, Value>,
    #[serde(default)]
    pub is_main_result: bool,
}

impl ExecutionResult {
    /// Maps a MIME bundle as E2B's server does: `text/plain` loses the
    /// quotes around it (a string's repr), known types get their fields.
    pub fn from_bundle(mut bundle: Map<String, Value>, is_main_result: bool) -> Self {
        let mut text = |mime: &str| match bundle.remove(mime) {
            Some(Value::String(s)) => Some(s),
            Some(other) => {
                // Not the string E2B's field holds: it stays, under `extra`.
                bundle.insert(mime.to_string(), other);
                None
            }
            None => None,
        };
        let mut result = ExecutionResult {
            text: text("text/plain").map(unquote),
            html: text("text/html"),
            markdown: text("text/markdown"),
            svg: text("image/svg+xml"),
            png: text("image/png"),
            jpeg: text("image/jpeg"),
            pdf: text("application/pdf"),
            latex: text("text/latex"),
            javascript: text("application/javascript"),
            is_main_result,
            ..Default::default()
        };
        result.json = bundle.remove("application/json");
        result.data = bundle.remove("e2b/data");
        result.chart = bundle.remove("e2b/chart");
        result.extra = bundle;
        result
    }
}

/// What one execution produced, as E2B's SDKs gather it from the events:
/// output chunks as written, results in order, the error, the count.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Execution {
    pub results: Vec<ExecutionResult>,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
    pub error: Option<ExecutionError>,
    pub execution_count: Option<u64>,
}

impl Execution {
    /// Adds one event (keepalives and the end change nothing).
    pub fn take(&mut self, event: Event) {
        match event {
            Event::NumberOfExecutions { execution_count } => {
                self.execution_count = Some(execution_count)
            }
            Event::Stdout { text, .. } => self.stdout.push(text),
            Event::Stderr { text, .. } => self.stderr.push(text),
            Event::Result(result) => self.results.push(*result),
            Event::Error(error) => self.error = Some(error),
            Event::Keepalive | Event::EndOfExecution => {}
        }
    }
}

/// RFC 3339 in UTC with microseconds: `2026-01-02T03:04:05.123456Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_micros()
    )
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn unquote(text: String) -> String {
    let quoted = text.len() >= 2
        && ((text.starts_with('\'') && text.ends_with('\''))
            || (text.starts_with('"') && text.ends_with('"')));
    if quoted {
        text[1..text.len() - 1].to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply(value: Value) -> Reply {
        Reply::parse(value.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn replies_decode() {
        assert_eq!(
            reply(json!({"type": "started", "count": 3})),
            Reply::Started { count: 3 }
        );
        assert_eq!(reply(json!({"type": "done"})), Reply::Done);
        let Reply::Ready { mode, detail } =
            reply(json!({"type": "ready", "mode": "basic", "reason": "no IPython"}))
        else {
            panic!("not ready")
        };
        assert_eq!(mode, "basic");
        assert_eq!(detail["reason"], "no IPython");
        assert_eq!(
            reply(json!({"type": "error", "name": "E", "value": "v", "traceback": "t"})),
            Reply::Error(ExecutionError {
                name: "E".into(),
                value: "v".into(),
                traceback: "t".into()
            })
        );
    }

    #[test]
    fn bad_replies_say_what_they_were() {
        let error = Reply::parse(b"{\"type\": \"started\"}").unwrap_err();
        assert!(error.to_string().contains("started"), "{error}");
        assert!(Reply::parse(b"NaN").is_err());
        assert!(Reply::parse(b"{\"type\": \"mystery\"}").is_err());
    }

    #[test]
    fn bundles_map_to_e2b_fields() {
        let bundle = json!({
            "text/plain": "'a string'",
            "text/html": "<b>x</b>",
            "image/png": "iVBOR",
            "application/json": [1, 2],
            "e2b/data": {"a": [1, 2]},
            "e2b/chart": {"type": "line"},
            "text/latex": "x^2",
            "application/vnd.custom": {"k": 1},
        });
        let Value::Object(bundle) = bundle else {
            unreachable!()
        };
        let result = ExecutionResult::from_bundle(bundle, true);
        assert_eq!(result.text.as_deref(), Some("a string"));
        assert_eq!(result.html.as_deref(), Some("<b>x</b>"));
        assert_eq!(result.png.as_deref(), Some("iVBOR"));
        assert_eq!(result.latex.as_deref(), Some("x^2"));
        assert_eq!(result.json, Some(json!([1, 2])));
        assert_eq!(result.data, Some(json!({"a": [1, 2]})));
        assert_eq!(result.chart, Some(json!({"type": "line"})));
        assert_eq!(
            Value::Object(result.extra.clone()),
            json!({"application/vnd.custom": {"k": 1}})
        );
        assert!(result.is_main_result);
    }

    #[test]
    fn results_serialize_as_e2b_sends_them() {
        let Value::Object(bundle) = json!({"text/plain": "\"q\"", "text/markdown": 5}) else {
            unreachable!()
        };
        let event = Event::Result(Box::new(ExecutionResult::from_bundle(bundle, false)));
        let line = String::from_utf8(event.to_line()).unwrap();
        assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
        let value: Value = serde_json::from_str(&line).unwrap();
        // A non-string where E2B expects text goes to `extra`; `extra` is always there.
        assert_eq!(
            value,
            json!({"type": "result", "text": "q", "extra": {"text/markdown": 5}, "is_main_result": false})
        );
        assert_eq!(unquote("'".into()), "'");
    }

    #[test]
    fn events_serialize_with_e2b_type_names() {
        let lines: Vec<Value> = [
            Event::NumberOfExecutions { execution_count: 2 },
            Event::Stdout {
                text: "hi\n".into(),
                timestamp: "t".into(),
            },
            Event::Keepalive,
            Event::EndOfExecution,
        ]
        .iter()
        .map(|e| serde_json::from_slice(&e.to_line()).unwrap())
        .collect();
        assert_eq!(
            lines,
            vec![
                json!({"type": "number_of_executions", "execution_count": 2}),
                json!({"type": "stdout", "text": "hi\n", "timestamp": "t"}),
                json!({"type": "keepalive"}),
                json!({"type": "end_of_execution"}),
            ]
        );
        assert_eq!(
            reply(json!({"type": "started", "count": 7})).into_event(),
            Some(Event::NumberOfExecutions { execution_count: 7 })
        );
        assert_eq!(reply(json!({"type": "done"})).into_event(), None);
    }
}
