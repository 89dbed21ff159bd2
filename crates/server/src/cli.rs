//! The command line of `e2b-native serve`, for both of its front ends
//! (`npx e2b-native serve` through the addon, and the `e2b-native-serve`
//! binary): one table of flags, each setting one option of
//! [`crate::ServerConfig::read`], each number checked against that option's
//! range in the flag's own unit.

use serde_json::{json, Map, Value};

use crate::config::option_range;

/// One flag: what it sets, and how.
struct Flag {
    name: &'static str,
    /// What follows it (`N`, `ADDR`); none for a switch.
    value: Option<&'static str>,
    /// The option it sets (`limits.memoryBytes`).
    option: &'static str,
    kind: Kind,
    help: &'static str,
}

enum Kind {
    /// A whole number times this many units of the option.
    Number(u64),
    Text,
    /// Adds to a list.
    Repeated,
    /// Sets the option to this.
    Switch(bool),
}

const MIB: u64 = 1 << 20;

const FLAGS: &[Flag] = &[
    Flag {
        name: "--port",
        value: Some("N"),
        option: "port",
        kind: Kind::Number(1),
        help: "port to listen on (default 3000; 0: any free port)",
    },
    Flag {
        name: "--host",
        value: Some("ADDR"),
        option: "host",
        kind: Kind::Text,
        help: "address to listen on (default 127.0.0.1)",
    },
    Flag {
        name: "--api-key",
        value: Some("KEY"),
        option: "apiKeys",
        kind: Kind::Repeated,
        help: "accepted API key, e2b_ + hex (repeatable; default: one is generated and printed; also E2B_NATIVE_SERVE_API_KEY)",
    },
    Flag {
        name: "--max-sandboxes",
        value: Some("N"),
        option: "maxSandboxes",
        kind: Kind::Number(1),
        help: "sandboxes running at once, 429 beyond (default 20)",
    },
    Flag {
        name: "--max-timeout",
        value: Some("S"),
        option: "maxTimeoutMs",
        kind: Kind::Number(1000),
        help: "longest sandbox timeout in seconds (default 3600)",
    },
    Flag {
        name: "--max-lifetime",
        value: Some("S"),
        option: "maxLifetimeMs",
        kind: Kind::Number(1000),
        help: "longest a sandbox lives from its start, whatever its timeouts, in seconds (default 86400)",
    },
    Flag {
        name: "--max-body-mb",
        value: Some("N"),
        option: "maxBodyBytes",
        kind: Kind::Number(MIB),
        help: "largest request body except uploads, 413 beyond (default 16)",
    },
    Flag {
        name: "--max-upload-mb",
        value: Some("N"),
        option: "maxUploadBytes",
        kind: Kind::Number(MIB),
        help: "largest file upload, 413 beyond (default 1024)",
    },
    Flag {
        name: "--max-result-mb",
        value: Some("N"),
        option: "maxResultBytes",
        kind: Kind::Number(MIB),
        help: "largest single result, display or error of code; a larger one is dropped (default 16)",
    },
    Flag {
        name: "--header-timeout",
        value: Some("S"),
        option: "headerTimeoutMs",
        kind: Kind::Number(1000),
        help: "seconds a connection has to send a request's head (default 15)",
    },
    Flag {
        name: "--max-connections",
        value: Some("N"),
        option: "maxConnections",
        kind: Kind::Number(1),
        help: "connections open at once, 503 beyond (default 512)",
    },
    Flag {
        name: "--memory-mb",
        value: Some("N"),
        option: "limits.memoryBytes",
        kind: Kind::Number(MIB),
        help: "memory of each sandbox (default 512)",
    },
    Flag {
        name: "--disk-mb",
        value: Some("N"),
        option: "limits.diskBytes",
        kind: Kind::Number(MIB),
        help: "size of each sandbox's /home/user, /tmp, /dev/shm (default 256)",
    },
    Flag {
        name: "--processes",
        value: Some("N"),
        option: "limits.processes",
        kind: Kind::Number(1),
        help: "processes of each sandbox (default 64)",
    },
    Flag {
        name: "--debug-sandbox",
        value: None,
        option: "debugSandbox",
        kind: Kind::Switch(true),
        help: "serve the SDKs' E2B_DEBUG=true mode (default: on when listening on loopback)",
    },
    Flag {
        name: "--no-debug-sandbox",
        value: None,
        option: "debugSandbox",
        kind: Kind::Switch(false),
        help: "do not serve the SDKs' E2B_DEBUG=true mode",
    },
    Flag {
        name: "--expose-debug-sandbox",
        value: None,
        option: "exposeDebugSandbox",
        kind: Kind::Switch(true),
        help: "with --debug-sandbox on a non-loopback --host, serve it anyway (anyone reaching it runs code, keyless)",
    },
    Flag {
        name: "--allowed-host",
        value: Some("NAME"),
        option: "allowedHosts",
        kind: Kind::Repeated,
        help: "a Host name the debug sandbox answers to besides localhost and IP addresses (repeatable)",
    },
    Flag {
        name: "--isolation",
        value: Some("TIER"),
        option: "isolation",
        kind: Kind::Text,
        help: "auto (default: namespaces where allowed, else landlock), namespaces (refuse to start without them), landlock",
    },
    Flag {
        name: "--no-data-science",
        value: None,
        option: "dataScience",
        kind: Kind::Switch(false),
        help: "Python without the data-science environment (default: installed on first start, once)",
    },
    Flag {
        name: "--log-level",
        value: Some("L"),
        option: "logLevel",
        kind: Kind::Text,
        help: "debug (one line per request), info (default), warn, error, silent",
    },
];

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Command {
    /// Serve, with these `startServer` options.
    Serve(Value),
    Help,
}

/// Reads the arguments after `serve`. `env_key`: `E2B_NATIVE_SERVE_API_KEY`.
pub fn parse(args: &[String], env_key: Option<&str>) -> Result<Command, String> {
    let mut options = Map::new();
    options.insert("logLevel".into(), json!("info"));
    // Repeated flags' values, by option; the environment's key first.
    let mut lists: Map<String, Value> = Map::new();
    if let Some(key) = env_key.filter(|k| !k.is_empty()) {
        lists.insert("apiKeys".into(), json!([key]));
    }
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(Command::Help);
        }
        let flag = FLAGS
            .iter()
            .find(|f| f.name == arg)
            .ok_or_else(|| format!("unknown option {arg}"))?;
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{} needs {}", flag.name, flag.value.unwrap_or("a value")))
        };
        let set = match flag.kind {
            Kind::Switch(on) => json!(on),
            Kind::Text => json!(value()?),
            Kind::Repeated => {
                let item = json!(value()?);
                let list = lists.entry(flag.option).or_insert_with(|| json!([]));
                if let Value::Array(items) = list {
                    items.push(item);
                }
                continue;
            }
            Kind::Number(unit) => json!(number(flag, unit, value()?)?),
        };
        insert(&mut options, flag.option, set);
    }
    options.extend(lists);
    Ok(Command::Serve(Value::Object(options)))
}

/// A flag's number in the option's unit, within the option's range.
fn number(flag: &Flag, unit: u64, text: &str) -> Result<u64, String> {
    let (min, max) = option_range(flag.option).expect("numeric flags set ranged options");
    let (low, high) = (min.div_ceil(unit), max / unit);
    let value = text
        .parse::<u64>()
        .ok()
        .filter(|n| (low..=high).contains(n));
    value.map(|n| n * unit).ok_or_else(|| {
        format!(
            "{} must be a whole number from {low} to {high}, got {text:?}",
            flag.name
        )
    })
}

/// Sets the dotted `path` of `options`.
fn insert(options: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            options.insert(path.into(), value);
        }
        Some((head, rest)) => {
            let inner = options
                .entry(head)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(map) = inner {
                insert(map, rest, value);
            }
        }
    }
}

/// The help text, for `program` (`e2b-native serve`).
pub fn usage(program: &str) -> String {
    let mut text = format!("usage: {program} [options]\n\n");
    for flag in FLAGS {
        let left = match flag.value {
            Some(v) => format!("{} {v}", flag.name),
            None => flag.name.to_string(),
        };
        text.push_str(&format!("  {left:<26}{}\n", flag.help));
    }
    text.push_str("  -h, --help                this help\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_set_their_options_in_the_options_units() {
        let parsed = parse(
            &args(&[
                "--port",
                "0",
                "--memory-mb",
                "64",
                "--max-timeout",
                "60",
                "--api-key",
                "e2b_1",
                "--no-debug-sandbox",
                "--allowed-host",
                "box.test",
                "--max-upload-mb",
                "8",
                "--header-timeout",
                "5",
            ]),
            Some("e2b_2"),
        )
        .unwrap();
        assert_eq!(
            parsed,
            Command::Serve(json!({
                "logLevel": "info",
                "port": 0,
                "limits": { "memoryBytes": 64 << 20 },
                "maxTimeoutMs": 60000,
                "apiKeys": ["e2b_2", "e2b_1"],
                "debugSandbox": false,
                "allowedHosts": ["box.test"],
                "maxUploadBytes": 8 << 20,
                "headerTimeoutMs": 5000,
            }))
        );
    }

    #[test]
    fn numbers_out_of_the_options_range_are_refused_in_the_flags_unit() {
        for (flag, value, message) in [
            (
                "--port",
                "70000",
                "--port must be a whole number from 0 to 65535, got \"70000\"",
            ),
            (
                "--port",
                "-1",
                "--port must be a whole number from 0 to 65535, got \"-1\"",
            ),
            (
                "--memory-mb",
                "16",
                "--memory-mb must be a whole number from 32 to 1048576, got \"16\"",
            ),
            (
                "--max-sandboxes",
                "0",
                "--max-sandboxes must be a whole number from 1 to 100000, got \"0\"",
            ),
            (
                "--max-connections",
                "0",
                "--max-connections must be a whole number from 1 to 65536, got \"0\"",
            ),
            (
                "--max-body-mb",
                "2048",
                "--max-body-mb must be a whole number from 1 to 1024, got \"2048\"",
            ),
            (
                "--max-timeout",
                "x",
                "--max-timeout must be a whole number from 1 to 2592000, got \"x\"",
            ),
        ] {
            assert_eq!(parse(&args(&[flag, value]), None).unwrap_err(), message);
        }
        assert_eq!(
            parse(&args(&["--port"]), None).unwrap_err(),
            "--port needs N"
        );
        assert_eq!(
            parse(&args(&["--bogus"]), None).unwrap_err(),
            "unknown option --bogus"
        );
        assert_eq!(parse(&args(&["-h"]), None).unwrap(), Command::Help);
    }

    #[test]
    fn the_usage_lists_every_flag() {
        let text = usage("e2b-native serve");
        assert!(FLAGS.iter().all(|f| text.contains(f.name)));
    }
}
