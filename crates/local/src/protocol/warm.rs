//! What the host sends a pooled sandbox, once, to run one call, and the
//! bytes init feeds the waiting interpreter's bootstrap (`pool::bootstrap`).

use serde::{Deserialize, Serialize};

use super::Work;

/// One call for a pooled sandbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Go {
    /// The code.
    pub code: String,
    /// Variables added to the environment before the code runs.
    pub env: Vec<(String, String)>,
    /// RLIMIT_CPU of the program, if the caller set one.
    pub cpu_seconds: Option<u64>,
    pub work: Work,
}

/// The bytes the bootstrap reads: `KEY=VALUE\0` per variable, `\0`, the code.
/// Neither names, values nor code hold a NUL (the host checks).
pub fn payload(env: &[(String, String)], code: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(code.len() + 64);
    for (key, value) in env {
        bytes.extend_from_slice(key.as_bytes());
        bytes.push(b'=');
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0);
    }
    bytes.push(0);
    bytes.extend_from_slice(code.as_bytes());
    bytes
}

/// The env and code of a [`payload`]; `None` if it is not one.
pub fn parse_payload(bytes: &[u8]) -> Option<(Vec<(String, String)>, String)> {
    let mut env = Vec::new();
    let mut rest = bytes;
    loop {
        let nul = rest.iter().position(|&b| b == 0)?;
        let (entry, after) = (&rest[..nul], &rest[nul + 1..]);
        rest = after;
        if entry.is_empty() {
            break;
        }
        let entry = std::str::from_utf8(entry).ok()?;
        let (key, value) = entry.split_once('=')?;
        env.push((key.to_string(), value.to_string()));
    }
    Some((env, String::from_utf8(rest.to_vec()).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_frames_env_then_code() {
        assert_eq!(payload(&[], "print(1)"), b"\0print(1)");
        let env = [
            ("A".to_string(), "1".to_string()),
            ("B".into(), "x=y".into()),
        ];
        assert_eq!(payload(&env, "c"), b"A=1\0B=x=y\0\0c");
        assert_eq!(
            parse_payload(&payload(&env, "c")),
            Some((env.to_vec(), "c".into()))
        );
        assert_eq!(parse_payload(b"\0"), Some((vec![], String::new())));
        assert_eq!(parse_payload(b"A=1"), None);
    }
}
