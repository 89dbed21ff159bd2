//! An execution request as each kernel reads it from its fd 3.

use std::collections::BTreeMap;

use serde_json::json;

use crate::transform::transform_cell;
use crate::{KernelError, Language};

/// The bytes that ask a kernel of `language` to run `code` with `env` set
/// for this execution only. JavaScript and TypeScript cells are
/// transformed here; one that does not parse becomes a request to report
/// its `SyntaxError`, so that it counts as an execution like any other.
pub fn encode_request(
    language: Language,
    code: &str,
    env: &BTreeMap<String, String>,
) -> Result<Vec<u8>, KernelError> {
    validate_env(env)?;
    let mut line = match language {
        Language::Python => json_line(json!({ "code": code, "env": env })),
        Language::JavaScript | Language::TypeScript => {
            match transform_cell(code, language == Language::TypeScript) {
                Ok(code) => json_line(json!({ "code": code, "env": env })),
                Err(error) => json_line(json!({ "syntax_error": error, "env": env })),
            }
        }
        Language::Bash => bash_line(code, env)?,
    };
    line.push(b'\n');
    Ok(line)
}

/// Checks environment variables given for the code: POSIX names, no NUL
/// bytes in values.
pub fn validate_env(env: &BTreeMap<String, String>) -> Result<(), KernelError> {
    // Linux refuses to exec with one `NAME=value` of 128 KiB or more
    // (MAX_ARG_STRLEN); the whole environment is kept well below what the
    // stack allows for arguments and environment together.
    const MAX_VARIABLE: usize = 128 * 1024 - 1;
    const MAX_TOTAL: usize = 1024 * 1024;
    let mut total = 0;
    for (name, value) in env {
        let size = name.len() + 1 + value.len();
        if size >= MAX_VARIABLE {
            return Err(KernelError::InvalidEnv(format!(
                "env: {name} is {size} bytes with its name; each variable must stay under {MAX_VARIABLE} bytes (pass larger data as a file)"
            )));
        }
        total += size + 1;
        if total > MAX_TOTAL {
            return Err(KernelError::InvalidEnv(format!(
                "env: the variables take more than {MAX_TOTAL} bytes together (pass larger data as a file)"
            )));
        }
        let mut chars = name.chars();
        let valid_name = chars
            .next()
            .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
            && chars.all(|c| c == '_' || c.is_ascii_alphanumeric());
        if !valid_name {
            return Err(KernelError::InvalidEnv(format!(
                "env: {name:?} is not a valid variable name (letters, digits and _, not starting with a digit)"
            )));
        }
        if value.contains('\0') {
            return Err(KernelError::InvalidEnv(format!(
                "env: the value of {name} contains a NUL byte"
            )));
        }
    }
    Ok(())
}

fn json_line(value: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&value).expect("JSON serializes")
}

/// One line of the bash kernel's input (see `programs/bash.sh`): the env
/// pairs for `__e2b_begin`, then the code for `eval`, every word quoted.
fn bash_line(code: &str, env: &BTreeMap<String, String>) -> Result<Vec<u8>, KernelError> {
    if code.contains('\0') {
        return Err(KernelError::NulInBashCode);
    }
    let mut line = String::from("__e2b_begin");
    for (key, value) in env {
        line += &format!(" {} {}", ansi_c_quote(key), ansi_c_quote(value));
    }
    line += &format!("; eval {} </dev/null 4>&-; __e2b_ok=$?", ansi_c_quote(code));
    Ok(line.into_bytes())
}

/// `$'…'`: any text but NUL as one word on one line.
fn ansi_c_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 3);
    out.push_str("$'");
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn decoded(line: &[u8]) -> Value {
        assert_eq!(line.last(), Some(&b'\n'));
        assert!(!line[..line.len() - 1].contains(&b'\n'), "one line");
        serde_json::from_slice(line).unwrap()
    }

    #[test]
    fn python_gets_the_code_and_env_as_json() {
        let line = encode_request(Language::Python, "print(1)\nx", &env(&[("A", "b")])).unwrap();
        assert_eq!(
            decoded(&line),
            json!({"code": "print(1)\nx", "env": {"A": "b"}})
        );
    }

    #[test]
    fn javascript_gets_the_transformed_cell() {
        let line = encode_request(Language::JavaScript, "const a = 1\na", &env(&[])).unwrap();
        let code = decoded(&line)["code"].as_str().unwrap().to_string();
        assert!(code.contains("(async () => {"), "{code}");
        assert!(code.contains("return (a)"), "{code}");
    }

    #[test]
    fn typescript_loses_its_types() {
        let line =
            encode_request(Language::TypeScript, "const a: number = 1\na", &env(&[])).unwrap();
        let code = decoded(&line)["code"].as_str().unwrap().to_string();
        assert!(!code.contains("number"), "{code}");
        // The same cell is a syntax error in JavaScript.
        let line = encode_request(Language::JavaScript, "const a: number = 1", &env(&[])).unwrap();
        let error = &decoded(&line)["syntax_error"];
        assert_eq!(
            (error["line"].as_u64(), error["column"].as_u64()),
            (Some(1), Some(7))
        );
    }

    #[test]
    fn bash_gets_one_quoted_line() {
        let code = "echo 'it''s' \\ \"$HOME\"\nprintf 'a\\tb\\x01'\n";
        let line = encode_request(Language::Bash, code, &env(&[("K", "v'\n")])).unwrap();
        let text = String::from_utf8(line).unwrap();
        assert_eq!(text.matches('\n').count(), 1);
        assert!(
            text.starts_with("__e2b_begin $'K' $'v\\'\\x0a'; eval $'"),
            "{text}"
        );
        assert!(text.ends_with(" </dev/null 4>&-; __e2b_ok=$?\n"), "{text}");
        assert_eq!(ansi_c_quote("é\x7f"), "$'é\\x7f'");
    }

    #[test]
    fn bad_input_is_refused_with_the_reason() {
        let error = encode_request(Language::Bash, "echo \0", &env(&[])).unwrap_err();
        assert!(matches!(error, KernelError::NulInBashCode));
        let error = encode_request(Language::Python, "1", &env(&[("1X", "v")])).unwrap_err();
        assert!(error.to_string().contains("1X"), "{error}");
    }
}
