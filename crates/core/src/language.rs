use std::fmt;
use std::str::FromStr;

use crate::Error;

/// A language the service runs, named as the public API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    Python,
    Node,
    Bash,
}

impl Language {
    pub const ALL: [Language; 3] = [Language::Python, Language::Node, Language::Bash];

    pub fn as_str(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Node => "node",
            Language::Bash => "bash",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Language {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Language::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| {
                Error::invalid_arg(format!(
                    "unknown language {s:?}: use \"python\", \"node\" or \"bash\""
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_names_and_nothing_else() {
        for l in Language::ALL {
            assert_eq!(l.as_str().parse::<Language>().unwrap(), l);
        }
        for bad in ["Python", "js", "javascript", "", "sh", " python"] {
            let err = bad.parse::<Language>().unwrap_err();
            assert_eq!(err.code(), "ERR_INVALID_ARG");
            assert!(err.to_string().contains("\"python\", \"node\" or \"bash\""));
        }
    }
}
