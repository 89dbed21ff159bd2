//! The languages of code contexts, E2B's names and their aliases, and the
//! kernel each runs on.

use crate::KernelError;

/// A code context's language, as `/contexts` and `/execute` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    Python,
    JavaScript,
    /// Runs on the JavaScript kernel; each cell's types are stripped first.
    TypeScript,
    Bash,
}

/// The kernel program a language runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelKind {
    Python,
    JavaScript,
    Bash,
}

impl Language {
    pub const ALL: [Language; 4] = [
        Language::Python,
        Language::JavaScript,
        Language::TypeScript,
        Language::Bash,
    ];

    /// The language named by a request, as E2B's server reads it (trimmed,
    /// case-insensitive, absent or empty = python, `js`, `ts`), plus the
    /// usual aliases.
    pub fn parse(name: Option<&str>) -> Result<Language, KernelError> {
        let name = name.unwrap_or("").trim().to_ascii_lowercase();
        Ok(match name.as_str() {
            "" | "python" | "python3" | "py" => Language::Python,
            "javascript" | "js" | "node" | "nodejs" => Language::JavaScript,
            "typescript" | "ts" => Language::TypeScript,
            "bash" | "sh" | "shell" => Language::Bash,
            _ => return Err(KernelError::UnknownLanguage(name)),
        })
    }

    /// E2B's name of the language.
    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::JavaScript => "javascript",
            Language::TypeScript => "typescript",
            Language::Bash => "bash",
        }
    }

    pub fn kernel(self) -> KernelKind {
        match self {
            Language::Python => KernelKind::Python,
            Language::JavaScript | Language::TypeScript => KernelKind::JavaScript,
            Language::Bash => KernelKind::Bash,
        }
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases() {
        for (name, language) in [
            (None, Language::Python),
            (Some(""), Language::Python),
            (Some(" Python3 "), Language::Python),
            (Some("JS"), Language::JavaScript),
            (Some("nodejs"), Language::JavaScript),
            (Some("ts"), Language::TypeScript),
            (Some("TypeScript"), Language::TypeScript),
            (Some("sh"), Language::Bash),
        ] {
            assert_eq!(Language::parse(name).unwrap(), language, "{name:?}");
        }
        for language in Language::ALL {
            assert_eq!(Language::parse(Some(language.name())).unwrap(), language);
        }
        assert_eq!(Language::TypeScript.kernel(), KernelKind::JavaScript);
    }

    #[test]
    fn unknown_languages_name_the_supported_ones() {
        let error = Language::parse(Some("R")).unwrap_err().to_string();
        assert!(error.contains("\"r\""), "{error}");
        assert!(
            error.contains("python, javascript, typescript or bash"),
            "{error}"
        );
    }
}
