//! envd, the daemon inside every E2B sandbox: processes over Connect RPC
//! (server-streaming, JSON envelopes) and files over plain HTTP.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::{json, Value};

use e2b_native_core::WORK_DIR;

use crate::retry::{send, Failure};

pub(crate) use e2b_native_core::ENVD_PORT as PORT;

/// How to reach one sandbox's service.
#[derive(Clone)]
pub(crate) struct Target {
    pub http: reqwest::Client,
    pub base: String,
    pub sandbox_id: String,
    pub port: u16,
    pub access_token: Option<String>,
}

impl Target {
    pub(crate) fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut builder = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("E2b-Sandbox-Id", &self.sandbox_id)
            .header("E2b-Sandbox-Port", self.port.to_string());
        if let Some(token) = &self.access_token {
            builder = builder.header("X-Access-Token", token);
        }
        builder
    }
}

/// What a running program produced, from either service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// The process's exit status (envd).
    Exit(i32),
    /// An exception the interpreter reported (the code interpreter).
    Crash {
        name: String,
        value: String,
        traceback: String,
    },
    /// Display data the code interpreter sent (a figure shown).
    Result(Box<e2b_native_kernels::ExecutionResult>),
}

/// Starts `cmd args` in the sandbox; `lifetime` becomes envd's process deadline.
pub(crate) async fn start(
    target: &Target,
    cmd: &str,
    args: &[String],
    envs: &BTreeMap<String, String>,
    lifetime: Duration,
) -> Result<ProcessStream, Failure> {
    let message = json!({
        "process": { "cmd": cmd, "args": args, "envs": envs, "cwd": WORK_DIR },
        "stdin": false,
    });
    let payload = serde_json::to_vec(&message).expect("json");
    let mut body = Vec::with_capacity(payload.len() + 5);
    body.push(0);
    body.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    body.extend_from_slice(&payload);
    let response = send(
        target
            .request(reqwest::Method::POST, "/process.Process/Start")
            .header("Content-Type", "application/connect+json")
            .header("Connect-Protocol-Version", "1")
            .header(
                "Connect-Timeout-Ms",
                lifetime.as_millis().max(1).to_string(),
            )
            .header("Keepalive-Ping-Interval", "50")
            .body(body),
    )
    .await?;
    Ok(ProcessStream {
        response,
        buffer: Vec::new(),
    })
}

pub(crate) struct ProcessStream {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl ProcessStream {
    /// The next piece of output or the exit; `None` at the end of the stream.
    pub(crate) async fn next(&mut self) -> Result<Option<Piece>, Failure> {
        loop {
            while let Some((flags, payload)) = take_envelope(&mut self.buffer) {
                let message: Value = serde_json::from_slice(&payload).map_err(|e| {
                    Failure::Unavailable(format!("envd sent an unreadable message: {e}"))
                })?;
                if flags & 0x02 != 0 {
                    return match message.get("error") {
                        Some(error) => Err(connect_failure(error)),
                        None => Ok(None),
                    };
                }
                if let Some(piece) = piece(&message) {
                    return Ok(Some(piece));
                }
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.buffer.extend_from_slice(&bytes),
                Ok(None) => {
                    return Err(Failure::Unavailable(
                        "envd's stream ended without its end frame".into(),
                    ))
                }
                Err(e) => return Err(Failure::Unavailable(format!("envd's stream broke: {e}"))),
            }
        }
    }
}

fn piece(message: &Value) -> Option<Piece> {
    let event = message.get("event")?;
    if let Some(data) = event.get("data") {
        let decode = |v: &Value| v.as_str().and_then(|s| BASE64.decode(s).ok());
        if let Some(bytes) = data.get("stdout").and_then(decode) {
            return Some(Piece::Stdout(bytes));
        }
        return data.get("stderr").and_then(decode).map(Piece::Stderr);
    }
    let end = event.get("end")?;
    // proto3 JSON omits zero values: a missing exitCode is 0.
    let code = end.get("exitCode").and_then(Value::as_i64).unwrap_or(0);
    Some(Piece::Exit(code as i32))
}

fn connect_failure(error: &Value) -> Failure {
    let code = error
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let message = error.get("message").and_then(Value::as_str).unwrap_or("");
    let text = format!("envd: {code}: {message}");
    match code {
        "unauthenticated" | "permission_denied" => Failure::Auth(text),
        "resource_exhausted" => Failure::RateLimited(text),
        "unavailable" | "deadline_exceeded" | "canceled" | "internal" | "unknown" => {
            Failure::Unavailable(text)
        }
        _ => Failure::Rejected(400, text),
    }
}

/// Splits one Connect envelope (flags, 4-byte big-endian length, payload) off the front.
fn take_envelope(buffer: &mut Vec<u8>) -> Option<(u8, Vec<u8>)> {
    if buffer.len() < 5 {
        return None;
    }
    let len = u32::from_be_bytes([buffer[1], buffer[2], buffer[3], buffer[4]]) as usize;
    if buffer.len() < 5 + len {
        return None;
    }
    let flags = buffer[0];
    let payload = buffer[5..5 + len].to_vec();
    buffer.drain(..5 + len);
    Some((flags, payload))
}

/// Writes a file (parents created) through envd's /files.
pub(crate) async fn write_file(
    target: &Target,
    path: &str,
    content: Vec<u8>,
) -> Result<(), Failure> {
    let part = reqwest::multipart::Part::bytes(content).file_name(path.to_string());
    let form = reqwest::multipart::Form::new().part("file", part);
    send(
        target
            .request(reqwest::Method::POST, "/files")
            .query(&[("path", path)])
            .multipart(form),
    )
    .await?;
    Ok(())
}

/// Reads a file through envd's /files; `None` if it does not exist.
pub(crate) async fn read_file(
    target: &Target,
    path: &str,
    cap: u64,
) -> Result<Option<Vec<u8>>, Failure> {
    let request = target
        .request(reqwest::Method::GET, "/files")
        .query(&[("path", path)]);
    let mut response = match send(request).await {
        Ok(response) => response,
        Err(Failure::Rejected(404, _)) => return Ok(None),
        Err(failure) => return Err(failure),
    };
    let mut content = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Failure::from_reqwest(&e))?
    {
        content.extend_from_slice(&chunk);
        if content.len() as u64 > cap {
            return Err(Failure::Rejected(
                413,
                format!("{path} is larger than {cap} bytes"),
            ));
        }
    }
    Ok(Some(content))
}

/// A directory's entries through envd's `filesystem.Filesystem/ListDir`:
/// (name, `file`/`dir`/`symlink`/`other`, size).
pub(crate) async fn list_dir(
    target: &Target,
    path: &str,
) -> Result<Vec<(String, &'static str, u64)>, Failure> {
    let response = send(
        target
            .request(reqwest::Method::POST, "/filesystem.Filesystem/ListDir")
            .header("Connect-Protocol-Version", "1")
            .json(&json!({ "path": path, "depth": 1 })),
    )
    .await?;
    let body: Value = response
        .json()
        .await
        .map_err(|e| Failure::Unavailable(format!("envd answered ListDir with {e}")))?;
    let entries = body.get("entries").and_then(Value::as_array);
    Ok(entries.into_iter().flatten().map(entry).collect())
}

/// One `EntryInfo` of envd (proto3 JSON: int64 as a string, enums by name).
fn entry(value: &Value) -> (String, &'static str, u64) {
    let name = value.get("name").and_then(Value::as_str).unwrap_or("");
    let kind = match value.get("type").and_then(Value::as_str) {
        Some("FILE_TYPE_FILE") => "file",
        Some("FILE_TYPE_DIRECTORY") => "dir",
        Some("FILE_TYPE_SYMLINK") => "symlink",
        _ => "other",
    };
    let size = match value.get("size") {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(other) => other.as_u64().unwrap_or(0),
        None => 0,
    };
    (name.to_string(), kind, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_are_split_as_they_complete() {
        let mut buf = vec![0, 0, 0, 0, 2, b'{', b'}', 2, 0, 0];
        assert_eq!(take_envelope(&mut buf), Some((0, b"{}".to_vec())));
        assert_eq!(take_envelope(&mut buf), None);
        buf.extend_from_slice(&[0, 2, b'{', b'}']);
        assert_eq!(take_envelope(&mut buf), Some((2, b"{}".to_vec())));
        assert!(buf.is_empty());
    }

    #[test]
    fn events_become_pieces() {
        let data: Value = serde_json::from_str(r#"{"event":{"data":{"stdout":"aGkK"}}}"#).unwrap();
        assert_eq!(piece(&data), Some(Piece::Stdout(b"hi\n".to_vec())));
        let end: Value =
            serde_json::from_str(r#"{"event":{"end":{"exited":true,"status":"exit status 0"}}}"#)
                .unwrap();
        assert_eq!(piece(&end), Some(Piece::Exit(0)));
        let end: Value = serde_json::from_str(r#"{"event":{"end":{"exitCode":3}}}"#).unwrap();
        assert_eq!(piece(&end), Some(Piece::Exit(3)));
        let start: Value = serde_json::from_str(r#"{"event":{"start":{"pid":4}}}"#).unwrap();
        assert_eq!(piece(&start), None);
    }

    #[test]
    fn entries_read_as_proto3_json_writes_them() {
        let file: Value =
            serde_json::from_str(r#"{"name":"a","type":"FILE_TYPE_FILE","size":"12"}"#).unwrap();
        assert_eq!(entry(&file), ("a".into(), "file", 12));
        let dir: Value =
            serde_json::from_str(r#"{"name":"d","type":"FILE_TYPE_DIRECTORY"}"#).unwrap();
        assert_eq!(entry(&dir), ("d".into(), "dir", 0));
    }
}
