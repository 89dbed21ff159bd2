//! Reading the public API's options as JavaScript passed them: JSON, in
//! which `index.js` names the values JSON cannot hold (`{"$js": "function"}`,
//! `{"$js": "NaN"}`). Every crate reads its own options through [`Options`],
//! so that each option is checked once, for its type and range, and every
//! message names the option, what it must be, and what it got. The options
//! every backend shares — timeouts and limits — are read here.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::{Error, Language, Limits};

/// The key `index.js` uses to name a value JSON cannot hold.
const JS_VALUE: &str = "$js";

/// The longest timeout accepted; longer jobs belong in a queue, not a request.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The options object at some path (`limits.`, `packages.`).
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    map: Option<&'a Map<String, Value>>,
    prefix: &'a str,
}

impl<'a> Options<'a> {
    /// `value`: an object, or null for no options. `what` says whose options
    /// they are, for the message when they are not an object.
    pub fn new(value: &'a Value, what: &str) -> Result<Self, Error> {
        match value {
            Value::Null => Ok(Options {
                map: None,
                prefix: "",
            }),
            Value::Object(map) if !map.contains_key(JS_VALUE) => Ok(Options {
                map: Some(map),
                prefix: "",
            }),
            other => Err(Error::invalid_arg(format!(
                "{what}: options must be an object, got {}",
                describe(other)
            ))),
        }
    }

    /// Parses the JSON `index.js` sent.
    pub fn parse(json: &str) -> Result<Value, Error> {
        serde_json::from_str(json).map_err(|e| Error::Internal(format!("options JSON: {e}")))
    }

    /// The value of `key`, if given (null counts as not given).
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map?.get(key).filter(|v| !v.is_null())
    }

    /// The option's full name, for messages.
    pub fn name(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn wrong(&self, key: &str, what: &str, got: &Value) -> Error {
        Error::invalid_arg(format!(
            "{} must be {what}, got {}",
            self.name(key),
            describe(got)
        ))
    }

    /// The nested options object `key` (`prefix` is its name and a dot).
    pub fn object(&self, key: &str, prefix: &'a str) -> Result<Options<'a>, Error> {
        match self.get(key) {
            None => Ok(Options { map: None, prefix }),
            Some(Value::Object(map)) if !map.contains_key(JS_VALUE) => Ok(Options {
                map: Some(map),
                prefix,
            }),
            Some(other) => Err(self.wrong(key, "an object", other)),
        }
    }

    /// Rejects keys other than `known`, naming them.
    pub fn only(&self, known: &[&str]) -> Result<(), Error> {
        for key in self.map.into_iter().flat_map(|m| m.keys()) {
            if !known.contains(&key.as_str()) {
                return Err(Error::invalid_arg(format!(
                    "{}: unknown option {key:?}: use {}",
                    self.prefix.trim_end_matches('.'),
                    known.join(", ")
                )));
            }
        }
        Ok(())
    }

    pub fn string(&self, key: &str) -> Result<Option<String>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    pub fn boolean(&self, key: &str) -> Result<Option<bool>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong(key, "a boolean", other)),
        }
    }

    /// A whole number from `min` to `max`.
    pub fn whole(&self, key: &str, min: u64, max: u64) -> Result<Option<u64>, Error> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let n = value.as_f64().filter(|n| n.fract() == 0.0);
        match n {
            Some(n) if n >= min as f64 && n <= max as f64 => Ok(Some(n as u64)),
            _ => Err(self.wrong(key, &format!("a whole number from {min} to {max}"), value)),
        }
    }

    /// A positive whole number of milliseconds, at most `max`.
    pub fn millis(&self, key: &str, max: Duration) -> Result<Option<Duration>, Error> {
        let max_ms = max.as_millis() as u64;
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        match value.as_f64().filter(|n| n.fract() == 0.0) {
            Some(n) if n >= 1.0 && n <= max_ms as f64 => Ok(Some(Duration::from_millis(n as u64))),
            _ => Err(self.wrong(
                key,
                &format!("a whole number of milliseconds from 1 to {max_ms}"),
                value,
            )),
        }
    }

    pub fn strings(&self, key: &str) -> Result<Option<Vec<String>>, Error> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let items = value.as_array().and_then(|items| {
            items
                .iter()
                .map(|v| v.as_str().map(String::from))
                .collect::<Option<Vec<_>>>()
        });
        items
            .map(Some)
            .ok_or_else(|| self.wrong(key, "an array of strings", value))
    }

    /// An object of strings (`env`).
    pub fn string_map(&self, key: &str) -> Result<Option<BTreeMap<String, String>>, Error> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let Some(map) = value.as_object().filter(|m| !m.contains_key(JS_VALUE)) else {
            return Err(self.wrong(key, "an object of strings", value));
        };
        let mut out = BTreeMap::new();
        for (name, item) in map {
            match item.as_str() {
                Some(text) => out.insert(name.clone(), text.to_string()),
                None => {
                    return Err(Error::invalid_arg(format!(
                        "{}.{name} must be a string, got {}",
                        self.name(key),
                        describe(item)
                    )))
                }
            };
        }
        Ok(Some(out))
    }

    /// An http(s) URL.
    pub fn url(&self, key: &str) -> Result<Option<url::Url>, Error> {
        let Some(text) = self.string(key)? else {
            return Ok(None);
        };
        check_url(&self.name(key), &text).map(Some)
    }

    /// The timeout of calls (`timeoutMs`), at most 24 hours.
    pub fn timeout(&self) -> Result<Option<Duration>, Error> {
        self.millis("timeoutMs", MAX_TIMEOUT)
    }

    /// `limits` over `base`: each limit by name, within its range.
    pub fn limits(&self, base: &Limits) -> Result<Limits, Error> {
        let given = self.object("limits", "limits.")?;
        let names: Vec<&str> = LIMITS.iter().map(|l| l.name).collect();
        given.only(&names)?;
        let mut limits = base.clone();
        for limit in LIMITS {
            if let Some(value) = given.whole(limit.name, limit.min, limit.max)? {
                (limit.set)(&mut limits, value);
            }
        }
        Ok(limits)
    }

    /// Interpreter binaries by language name.
    pub fn interpreters(&self) -> Result<Vec<(Language, PathBuf)>, Error> {
        let mut found = Vec::new();
        for (name, path) in self.string_map("interpreters")?.unwrap_or_default() {
            found.push((name.parse::<Language>()?, PathBuf::from(path)));
        }
        Ok(found)
    }
}

/// Checks that `text` (the value of option or variable `name`) is an
/// http(s) URL.
pub fn check_url(name: &str, text: &str) -> Result<url::Url, Error> {
    match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(url),
        _ => Err(Error::invalid_arg(format!(
            "{name} must be an http(s) URL, got {text:?}"
        ))),
    }
}

/// A limit the caller may set: its name, range and field.
pub struct LimitOption {
    pub name: &'static str,
    pub min: u64,
    pub max: u64,
    set: fn(&mut Limits, u64),
}

/// Every limit, with its range.
pub const LIMITS: &[LimitOption] = &[
    LimitOption {
        name: "memoryBytes",
        min: 32 << 20,
        max: 1 << 40,
        set: |l, v| l.memory_bytes = v,
    },
    LimitOption {
        name: "processes",
        min: 4,
        max: 65536,
        set: |l, v| l.processes = v,
    },
    LimitOption {
        name: "cpuSeconds",
        min: 1,
        max: 86400,
        set: |l, v| l.cpu_seconds = Some(v),
    },
    LimitOption {
        name: "diskBytes",
        min: 1 << 20,
        max: 1 << 40,
        set: |l, v| l.disk_bytes = v,
    },
    LimitOption {
        name: "openFiles",
        min: 16,
        max: 1 << 20,
        set: |l, v| l.open_files = v,
    },
    LimitOption {
        name: "outputBytes",
        min: 1,
        max: 1 << 40,
        set: |l, v| l.output_bytes = v as usize,
    },
];

/// How a value reads in a message.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.chars().count() > 40 => {
            format!("{:?}", s.chars().take(40).collect::<String>() + "…")
        }
        Value::String(s) => format!("{s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(map) => match map.get(JS_VALUE).and_then(Value::as_str) {
            Some(what) => what.to_string(),
            None => "an object".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn options(value: &Value) -> Options<'_> {
        Options::new(value, "test").unwrap()
    }

    #[test]
    fn numbers_are_whole_and_in_range_and_messages_say_what_came() {
        let v = json!({ "a": 5, "b": 2.5, "c": { "$js": "NaN" }, "d": "5" });
        let o = options(&v);
        assert_eq!(o.whole("a", 1, 10).unwrap(), Some(5));
        assert_eq!(o.whole("missing", 1, 10).unwrap(), None);
        for (key, got) in [("b", "number 2.5"), ("c", "NaN"), ("d", "\"5\"")] {
            let message = o.whole(key, 1, 10).unwrap_err().to_string();
            assert_eq!(
                message,
                format!("{key} must be a whole number from 1 to 10, got {got}")
            );
        }
        let message = o.whole("a", 6, 10).unwrap_err().to_string();
        assert!(message.contains("from 6 to 10, got number 5"), "{message}");
    }

    #[test]
    fn timeouts_must_be_positive_whole_and_bounded() {
        let ok = json!({ "timeoutMs": 1500 });
        assert_eq!(
            options(&ok).timeout().unwrap(),
            Some(Duration::from_millis(1500))
        );
        for bad in [
            json!(0),
            json!(-1),
            json!(1.5),
            json!(1e12),
            json!({"$js": "Infinity"}),
        ] {
            let v = json!({ "timeoutMs": bad });
            let err = options(&v).timeout().unwrap_err();
            assert_eq!(err.code(), "ERR_INVALID_ARG", "{bad}");
        }
    }

    #[test]
    fn limits_are_set_by_name_within_range_over_a_base() {
        let v = json!({ "limits": { "processes": 10, "memoryBytes": 67108864 } });
        let limits = options(&v).limits(&Limits::default()).unwrap();
        assert_eq!((limits.processes, limits.memory_bytes), (10, 64 << 20));
        assert_eq!(limits.disk_bytes, Limits::default().disk_bytes);
        for bad in [
            json!({ "processes": 0 }),
            json!({ "processes": 2.5 }),
            json!({ "memoryBytes": 1 }),
            json!({ "cpus": 1 }),
            json!("x"),
        ] {
            let v = json!({ "limits": bad });
            let err = options(&v).limits(&Limits::default()).unwrap_err();
            assert_eq!(err.code(), "ERR_INVALID_ARG", "{bad}");
        }
    }

    #[test]
    fn strings_maps_and_urls() {
        let v =
            json!({ "env": { "A": "1" }, "bad": { "A": 1 }, "url": "ftp://x", "list": ["a", 1] });
        let o = options(&v);
        assert_eq!(o.string_map("env").unwrap().unwrap()["A"], "1");
        assert_eq!(
            o.string_map("bad").unwrap_err().to_string(),
            "bad.A must be a string, got number 1"
        );
        assert_eq!(
            o.url("url").unwrap_err().to_string(),
            "url must be an http(s) URL, got \"ftp://x\""
        );
        assert!(o.strings("list").is_err());
        assert!(Options::new(&json!([1]), "execute").is_err());
        assert!(Options::new(&Value::Null, "execute").is_ok());
    }
}
