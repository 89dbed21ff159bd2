//! The code interpreter inside E2B's code-interpreter template: POST /execute,
//! answered with newline-delimited JSON as the code runs, in code contexts
//! (`/contexts`).

use std::collections::BTreeMap;

use e2b_native_kernels::{Event, Language};
use serde::Deserialize;
use serde_json::json;

use crate::envd::{Piece, Target};
use crate::retry::{send, Failure};

pub(crate) use e2b_native_core::INTERPRETER_PORT as PORT;

/// Which kernel runs an execution.
pub(crate) enum Kernel<'a> {
    /// The default context of a language.
    Language(Language),
    /// A context created with [`create_context`].
    Context(&'a str),
}

/// Starts `code` with `env` set for this execution only.
pub(crate) async fn execute(
    target: &Target,
    kernel: Kernel<'_>,
    code: &str,
    env: &BTreeMap<String, String>,
) -> Result<Lines, Failure> {
    let mut body = json!({ "code": code, "env_vars": env });
    match kernel {
        Kernel::Language(language) => body["language"] = language.name().into(),
        Kernel::Context(id) => body["context_id"] = id.into(),
    }
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

#[derive(Deserialize)]
struct Context {
    id: String,
}

/// A new context of `language` in `cwd`; its id.
pub(crate) async fn create_context(
    target: &Target,
    language: Language,
    cwd: &str,
) -> Result<String, Failure> {
    let body = json!({ "language": language.name(), "cwd": cwd });
    let response = send(
        target
            .request(reqwest::Method::POST, "/contexts")
            .json(&body),
    )
    .await?;
    let context: Context = response.json().await.map_err(|e| {
        Failure::Unavailable(format!("the code interpreter answered /contexts with {e}"))
    })?;
    Ok(context.id)
}

/// Restarts context `id`: a new kernel, its state gone.
pub(crate) async fn restart_context(target: &Target, id: &str) -> Result<(), Failure> {
    let path = format!("/contexts/{id}/restart");
    send(target.request(reqwest::Method::POST, &path)).await?;
    Ok(())
}

pub(crate) struct Lines {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl Lines {
    /// The next event the interpreter sent (keepalives and types this
    /// version does not know are skipped); `None` at `end_of_execution`.
    pub(crate) async fn next_event(&mut self) -> Result<Option<Event>, Failure> {
        loop {
            // Split on '\n' bytes before decoding: a chunk may end mid-character.
            while let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                match serde_json::from_slice::<Event>(&line) {
                    Ok(Event::EndOfExecution) => return Ok(None),
                    Ok(Event::Keepalive) | Err(_) => {}
                    Ok(event) => return Ok(Some(event)),
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

    /// The next piece of output or exception; `None` at `end_of_execution`.
    pub(crate) async fn next(&mut self) -> Result<Option<Piece>, Failure> {
        loop {
            let piece = match self.next_event().await? {
                None => return Ok(None),
                Some(Event::Stdout { text, .. }) => Piece::Stdout(text.into_bytes()),
                Some(Event::Stderr { text, .. }) => Piece::Stderr(text.into_bytes()),
                Some(Event::Error(error)) => Piece::Crash {
                    name: error.name,
                    value: error.value,
                    traceback: error.traceback,
                },
                // Display data; the last expression's value is not a
                // one-shot result (a local run has none).
                Some(Event::Result(result)) if !result.is_main_result => Piece::Result(result),
                Some(_) => continue, // main results, execution counts
            };
            return Ok(Some(piece));
        }
    }
}
