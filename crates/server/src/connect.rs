//! The Connect protocol with JSON payloads, as envd speaks it to the SDKs:
//! unary calls are bare JSON; server streams are envelopes (a flag byte, a
//! big-endian length, a payload), ending with an end-stream envelope.

use axum::body::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::http::{ApiError, Failure};

const FLAG_COMPRESSED: u8 = 0x01;
const FLAG_END_STREAM: u8 = 0x02;

/// One envelope around `payload`.
pub(crate) fn envelope(flags: u8, payload: &[u8]) -> Bytes {
    let mut frame = Vec::with_capacity(5 + payload.len());
    frame.push(flags);
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(payload);
    frame.into()
}

/// A data message.
pub(crate) fn message(value: &Value) -> Bytes {
    envelope(0, &serde_json::to_vec(value).expect("JSON serializes"))
}

/// The end of a stream: `{}` on success, else the error.
pub(crate) fn end_stream(error: Option<&ApiError>) -> Bytes {
    let body = match error {
        None => serde_json::json!({}),
        Some(e) => serde_json::json!({ "error": e.connect_json() }),
    };
    envelope(
        FLAG_END_STREAM,
        &serde_json::to_vec(&body).expect("JSON serializes"),
    )
}

/// The single request message of a server-streaming call.
pub(crate) fn parse_stream_request<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.len() < 5 {
        return Err(ApiError::new(
            Failure::Invalid,
            "the request is not a Connect envelope",
        ));
    }
    if body[0] & FLAG_COMPRESSED != 0 {
        return Err(ApiError::new(
            Failure::NotImplemented,
            "compressed messages are not supported",
        ));
    }
    let length = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    let payload = body
        .get(5..5 + length)
        .ok_or_else(|| ApiError::new(Failure::Invalid, "the request envelope is truncated"))?;
    parse_unary(payload)
}

/// The request message of a unary call.
pub(crate) fn parse_unary<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(Failure::Invalid, format!("invalid request message: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_frame_json() {
        let frame = message(&serde_json::json!({"a": 1}));
        assert_eq!(&frame[..], b"\x00\x00\x00\x00\x07{\"a\":1}");
        let end = end_stream(None);
        assert_eq!(&end[..], b"\x02\x00\x00\x00\x02{}");
        let parsed: Value = parse_stream_request(&frame).unwrap();
        assert_eq!(parsed["a"], 1);
        assert!(parse_stream_request::<Value>(b"\x00\x00\x00\x00\x09{}").is_err());
        assert!(parse_stream_request::<Value>(b"\x01\x00\x00\x00\x02{}").is_err());
    }
}
