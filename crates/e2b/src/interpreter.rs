//! The code interpreter inside E2B's code-interpreter template: POST /execute,
//! answered with newline-delimited JSON as the code runs.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::envd::{Piece, Target};
use crate::retry::{send, Failure};

pub(crate) use e2b_native_core::INTERPRETER_PORT as PORT;

pub(crate) async fn execute(
    target: &Target,
    code: &str,
    env: &BTreeMap<String, String>,
) -> Result<Lines, Failure> {
    let body = json!({ "code": code, "language": "python", "env_vars": env });
    let response = send(
        target
            .request(reqwest::Method::POST, "/execute")
            .json(&body),
    )
    .await?;
    Ok(Lines {
        response,
        buffer: Vec::new(),
    })
}

pub(crate) struct Lines {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl Lines {
    /// The next piece of output or exception; `None` at `end_of_execution`.
    pub(crate) async fn next(&mut self) -> Result<Option<Piece>, Failure> {
        loop {
            // Split on '\n' bytes before decoding: a chunk may end mid-character.
            while let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                let Ok(message) = serde_json::from_slice::<Value>(&line) else {
                    continue;
                };
                let text = |key: &str| {
                    message
                        .get(key)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                match message.get("type").and_then(Value::as_str) {
                    Some("stdout") => return Ok(Some(Piece::Stdout(text("text").into_bytes()))),
                    Some("stderr") => return Ok(Some(Piece::Stderr(text("text").into_bytes()))),
                    Some("error") => {
                        return Ok(Some(Piece::Crash {
                            name: text("name"),
                            value: text("value"),
                            traceback: text("traceback"),
                        }))
                    }
                    Some("end_of_execution") => return Ok(None),
                    _ => {} // results, execution counts, keepalives
                }
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.buffer.extend_from_slice(&bytes),
                Ok(None) => {
                    return Err(Failure::Unavailable(
                        "the code interpreter's stream ended before end_of_execution".into(),
                    ))
                }
                Err(e) => {
                    return Err(Failure::Unavailable(format!(
                        "the code interpreter's stream broke: {e}"
                    )))
                }
            }
        }
    }
}
