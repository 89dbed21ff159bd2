//! One line per event on stderr, filtered by level: `debug` adds one line
//! per request to `info`'s start, sandbox lifecycle and shutdown lines.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum LogLevel {
    Debug,
    #[default]
    Info,
    Warn,
    Error,
    Silent,
}

impl FromStr for LogLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "debug" | "trace" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warn" | "warning" => LogLevel::Warn,
            "error" => LogLevel::Error,
            "silent" | "off" | "none" => LogLevel::Silent,
            _ => {
                return Err(format!(
                    "unknown log level {s:?}: use debug, info, warn, error or silent"
                ))
            }
        })
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::Silent => "silent",
        })
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Logger {
    pub level: LogLevel,
}

impl Logger {
    pub(crate) fn enabled(&self, level: LogLevel) -> bool {
        level >= self.level && level != LogLevel::Silent
    }

    pub(crate) fn log(&self, level: LogLevel, message: fmt::Arguments<'_>) {
        if self.enabled(level) {
            let time = crate::util::rfc3339(std::time::SystemTime::now());
            eprintln!("{time} {level:<5} e2b-native serve: {message}");
        }
    }

    pub(crate) fn debug(&self, message: fmt::Arguments<'_>) {
        self.log(LogLevel::Debug, message)
    }

    pub(crate) fn info(&self, message: fmt::Arguments<'_>) {
        self.log(LogLevel::Info, message)
    }

    pub(crate) fn warn(&self, message: fmt::Arguments<'_>) {
        self.log(LogLevel::Warn, message)
    }
}
