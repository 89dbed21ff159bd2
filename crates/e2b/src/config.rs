use std::collections::HashMap;

use e2b_native_core::options::{check_url, Options};
use e2b_native_core::Error;

/// Where and as whom to reach E2B; the same variables and defaults as the
/// official SDKs.
#[derive(Debug, Clone)]
pub struct E2bConfig {
    pub api_key: String,
    /// `E2B_API_URL`, else `https://api.{domain}`.
    pub api_url: String,
    /// `E2B_SANDBOX_URL`: one URL for every sandbox (routing by headers), as
    /// `e2b-native serve` and E2B's debug set-ups use; else per sandbox.
    pub sandbox_url: Option<String>,
    /// `E2B_DOMAIN`, default `e2b.app`.
    pub domain: String,
    /// Default `code-interpreter-v1`.
    pub template: String,
    /// Calls beyond this wait for a free slot. Default 20 (the free plan's limit).
    pub max_concurrency: usize,
}

pub(crate) const DEFAULT_TEMPLATE: &str = "code-interpreter-v1";
pub(crate) const DEFAULT_MAX_CONCURRENCY: usize = 20;

impl E2bConfig {
    /// Reads the constructor's e2b options (`apiKey`, `template`, `domain`,
    /// `apiUrl`, `sandboxUrl`, `maxConcurrency`); options win over the
    /// caller's environment (`E2B_API_KEY`, `E2B_DOMAIN`, `E2B_API_URL`,
    /// `E2B_SANDBOX_URL`).
    pub fn read(options: &Options<'_>, env: &HashMap<String, String>) -> Result<Self, Error> {
        let from_env = |var: &str| env.get(var).filter(|v| !v.is_empty()).cloned();
        let get = |option: &str, var: &str| -> Result<Option<(String, String)>, Error> {
            Ok(match options.string(option)?.filter(|v| !v.is_empty()) {
                Some(value) => Some((option.to_string(), value)),
                None => from_env(var).map(|value| (var.to_string(), value)),
            })
        };
        let max_concurrency = options
            .whole("maxConcurrency", 1, 10_000)?
            .map_or(DEFAULT_MAX_CONCURRENCY, |n| n as usize);
        let template = options
            .string("template")?
            .unwrap_or_else(|| DEFAULT_TEMPLATE.into());
        let domain = get("domain", "E2B_DOMAIN")?.map_or_else(|| "e2b.app".into(), |(_, v)| v);
        let url = |option: &str, var: &str| -> Result<Option<String>, Error> {
            get(option, var)?
                .map(|(name, value)| check_url(&name, &value).map(|_| value))
                .transpose()
        };
        let api_url =
            url("apiUrl", "E2B_API_URL")?.unwrap_or_else(|| format!("https://api.{domain}"));
        let sandbox_url = url("sandboxUrl", "E2B_SANDBOX_URL")?;
        let api_key = get("apiKey", "E2B_API_KEY")?.map(|(_, v)| v).ok_or_else(|| {
            Error::NotConfigured(
                "the e2b backend needs an API key: set E2B_API_KEY or pass { apiKey } (get one at e2b.dev), \
                 or choose the local sandbox with { backend: \"local\" }"
                    .into(),
            )
        })?;
        Ok(E2bConfig {
            api_key,
            api_url: api_url.trim_end_matches('/').into(),
            sandbox_url: sandbox_url.map(|u| u.trim_end_matches('/').to_string()),
            domain,
            template,
            max_concurrency,
        })
    }

    /// The base URL of a sandbox's service on `port` (49983 envd, 49999 interpreter).
    pub fn sandbox_base(&self, sandbox_id: &str, domain: Option<&str>, port: u16) -> String {
        match &self.sandbox_url {
            Some(url) => url.clone(),
            None => format!(
                "https://{port}-{sandbox_id}.{}",
                domain.unwrap_or(&self.domain)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn read(options: &[(&str, &str)], env: &[(&str, &str)]) -> Result<E2bConfig, Error> {
        let value = serde_json::to_value(map(options)).unwrap();
        E2bConfig::read(&Options::new(&value, "test").unwrap(), &map(env))
    }

    #[test]
    fn defaults_follow_the_official_sdk() {
        let c = read(&[], &[("E2B_API_KEY", "e2b_1")]).unwrap();
        assert_eq!(c.api_url, "https://api.e2b.app");
        assert_eq!(c.template, "code-interpreter-v1");
        assert_eq!(c.max_concurrency, 20);
        assert_eq!(
            c.sandbox_base("iabc", None, 49999),
            "https://49999-iabc.e2b.app"
        );
    }

    #[test]
    fn options_win_over_the_environment() {
        let c = read(
            &[("apiKey", "e2b_2"), ("apiUrl", "http://127.0.0.1:3000/")],
            &[
                ("E2B_API_KEY", "e2b_1"),
                ("E2B_SANDBOX_URL", "http://127.0.0.1:3000"),
            ],
        )
        .unwrap();
        assert_eq!(
            (c.api_key.as_str(), c.api_url.as_str()),
            ("e2b_2", "http://127.0.0.1:3000")
        );
        assert_eq!(c.sandbox_base("iabc", None, 49983), "http://127.0.0.1:3000");
    }

    #[test]
    fn a_missing_key_or_a_bad_url_says_what_to_do() {
        assert_eq!(read(&[], &[]).unwrap_err().code(), "ERR_NOT_CONFIGURED");
        let bad = read(&[("apiKey", "k"), ("apiUrl", "ftp://x")], &[]);
        assert_eq!(bad.unwrap_err().code(), "ERR_INVALID_ARG");
        let bad = read(&[("apiKey", "k")], &[("E2B_API_URL", "nope")]);
        assert!(bad.unwrap_err().to_string().contains("E2B_API_URL"));
    }
}
