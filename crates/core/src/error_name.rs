//! Names the exception that ended a program, from what its interpreter printed.
//! Both backends run the real interpreters, so both read the same text.

use crate::Language;

/// The class name of the uncaught exception that ended the program, if one did:
/// `ZeroDivisionError`, `ReferenceError`. `None` for a plain exit.
pub fn uncaught_error_name(language: Language, exit_code: i32, stderr: &str) -> Option<String> {
    match language {
        // CPython exits with 1 after printing a traceback; SystemExit prints none.
        Language::Python if exit_code == 1 => python(stderr),
        // Node exits with 1 (7 if an exception handler threw) and ends with its version.
        Language::Node if exit_code != 0 => node(stderr),
        _ => None,
    }
}

fn python(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr.lines().map(strip_group_prefix).collect();
    // The exception line is the first unindented line after the deepest frame;
    // a SyntaxError has a frame ("  File ...") but no "Traceback" header.
    let last_frame = lines.iter().rposition(|l| l.starts_with("  File \""))?;
    let line = lines[last_frame + 1..]
        .iter()
        .find(|l| !l.is_empty() && !l.starts_with(char::is_whitespace))?;
    let name = line.split(':').next()?;
    let valid = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && name
            .chars()
            .all(|c| c == '_' || c == '.' || c.is_alphanumeric());
    valid.then(|| name.rsplit('.').next().unwrap_or(name).to_string())
}

/// Lines of an ExceptionGroup traceback are drawn inside "  | " borders.
fn strip_group_prefix(line: &str) -> &str {
    line.strip_prefix("  | ").unwrap_or(line)
}

fn node(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr.lines().collect();
    let trailer = lines.iter().rposition(|l| !l.trim().is_empty())?;
    if !lines[trailer].starts_with("Node.js v") {
        return None;
    }
    // "TypeError: message" (or "Name [code]: message") followed by its stack.
    let named = lines.windows(2).find_map(|pair| {
        if !pair[1].starts_with("    at ") {
            return None;
        }
        let head = pair[0].split([':', ' ']).next()?;
        let valid = !head.is_empty()
            && !head.starts_with(|c: char| c.is_ascii_digit())
            && head
                .chars()
                .all(|c| c == '_' || c == '$' || c.is_alphanumeric());
        valid.then(|| head.to_string())
    });
    // A thrown non-Error (`throw 5`) has no class: report the generic one.
    Some(named.unwrap_or_else(|| "Error".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn py(stderr: &str) -> Option<String> {
        uncaught_error_name(Language::Python, 1, stderr)
    }

    #[test]
    fn python_tracebacks() {
        let plain = "Traceback (most recent call last):\n  File \"<string>\", line 1, in <module>\nZeroDivisionError: division by zero\n";
        assert_eq!(py(plain).as_deref(), Some("ZeroDivisionError"));

        let dotted = "Traceback (most recent call last):\n  File \"<string>\", line 1, in <module>\n  File \"/usr/lib/python3.11/json/decoder.py\", line 353, in raw_decode\n    obj, end = self.scan_once(s, idx)\n               ^^^^^^\njson.decoder.JSONDecodeError: Expecting value\n";
        assert_eq!(py(dotted).as_deref(), Some("JSONDecodeError"));

        let syntax = "  File \"<string>\", line 1\n    x = (\n        ^\nSyntaxError: '(' was never closed\n";
        assert_eq!(py(syntax).as_deref(), Some("SyntaxError"));

        let bare =
            "Traceback (most recent call last):\n  File \"<string>\", line 2, in <module>\nE\n";
        assert_eq!(py(bare).as_deref(), Some("E"));

        let multiline = "Traceback (most recent call last):\n  File \"<string>\", line 1, in <module>\nValueError: a\nb: c\n";
        assert_eq!(py(multiline).as_deref(), Some("ValueError"));

        let chained = "Traceback (most recent call last):\n  File \"<string>\", line 2, in <module>\nZeroDivisionError: division by zero\n\nThe above exception was the direct cause of the following exception:\n\nTraceback (most recent call last):\n  File \"<string>\", line 4, in <module>\nKeyError: 'k'\n";
        assert_eq!(py(chained).as_deref(), Some("KeyError"));

        let group = "  + Exception Group Traceback (most recent call last):\n  |   File \"<string>\", line 1, in <module>\n  | ExceptionGroup: g (1 sub-exception)\n  +-+---------------- 1 ----------------\n    | ValueError: 1\n    +------------------------------------\n";
        assert_eq!(py(group).as_deref(), Some("ExceptionGroup"));
    }

    #[test]
    fn python_plain_exits_have_no_name() {
        assert_eq!(py("bye\n"), None);
        assert_eq!(py(""), None);
        let tb = "Traceback (most recent call last):\n  File \"<string>\", line 1, in <module>\nZeroDivisionError: x\n";
        assert_eq!(uncaught_error_name(Language::Python, 0, tb), None);
        assert_eq!(uncaught_error_name(Language::Python, 2, tb), None);
    }

    #[test]
    fn node_uncaught_errors() {
        let typed = "[eval]:1\nnull.x\n     ^\n\nTypeError: Cannot read properties of null (reading 'x')\n    at [eval]:1:6\n    at node:internal/main/eval_string:51:3\n\nNode.js v20.20.2\n";
        assert_eq!(
            uncaught_error_name(Language::Node, 1, typed).as_deref(),
            Some("TypeError")
        );
        let thrown_number = "\n[eval]:1\nthrow 5\n^\n5\n(Use `node --trace-uncaught ...` to show where the exception was thrown)\n\nNode.js v20.20.2\n";
        assert_eq!(
            uncaught_error_name(Language::Node, 1, thrown_number).as_deref(),
            Some("Error")
        );
        assert_eq!(uncaught_error_name(Language::Node, 3, "oops\n"), None);
        assert_eq!(uncaught_error_name(Language::Node, 0, typed), None);
    }

    #[test]
    fn bash_has_no_exceptions() {
        assert_eq!(uncaught_error_name(Language::Bash, 1, "boom"), None);
    }
}
