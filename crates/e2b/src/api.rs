//! E2B's control plane: create, list and delete sandboxes.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::retry::{send, Failure};
use crate::E2bConfig;

/// Every request to the control plane gives up after this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Created {
    #[serde(rename = "sandboxID")]
    pub sandbox_id: String,
    pub envd_access_token: Option<String>,
    pub domain: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Listed {
    #[serde(rename = "sandboxID")]
    pub sandbox_id: String,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Clone)]
pub(crate) struct Api {
    http: reqwest::Client,
    config: E2bConfig,
}

impl Api {
    pub(crate) fn new(http: reqwest::Client, config: E2bConfig) -> Self {
        Api { http, config }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.config.api_url))
            .header("X-API-Key", &self.config.api_key)
            .timeout(REQUEST_TIMEOUT)
    }

    /// POST /sandboxes with a TTL, tags, the variables of every process in
    /// it, and a template.
    pub(crate) async fn create(
        &self,
        ttl: Duration,
        metadata: &BTreeMap<String, String>,
        env: &BTreeMap<String, String>,
    ) -> Result<Created, Failure> {
        let body = json!({
            "templateID": self.config.template,
            "timeout": ttl.as_secs().max(1),
            "metadata": metadata,
            "envVars": env,
            "secure": true,
        });
        let response = send(
            self.request(reqwest::Method::POST, "/sandboxes")
                .json(&body),
        )
        .await?;
        response.json::<Created>().await.map_err(|e| {
            Failure::Unavailable(format!(
                "E2B answered a create with an unexpected body: {e}"
            ))
        })
    }

    /// DELETE /sandboxes/{id}; a sandbox already gone (404) is fine.
    pub(crate) async fn kill(&self, sandbox_id: &str) -> Result<(), Failure> {
        match send(self.request(reqwest::Method::DELETE, &format!("/sandboxes/{sandbox_id}"))).await
        {
            Ok(_) | Err(Failure::Rejected(404, _)) => Ok(()),
            Err(f) => Err(f),
        }
    }

    /// POST /sandboxes/{id}/timeout: E2B kills the sandbox `ttl` from now.
    pub(crate) async fn set_timeout(&self, sandbox_id: &str, ttl: Duration) -> Result<(), Failure> {
        let path = format!("/sandboxes/{sandbox_id}/timeout");
        let body = json!({ "timeout": ttl.as_secs().max(1) });
        send(self.request(reqwest::Method::POST, &path).json(&body)).await?;
        Ok(())
    }

    /// GET /v2/sandboxes filtered by metadata, every page.
    pub(crate) async fn list(
        &self,
        metadata: &BTreeMap<String, String>,
    ) -> Result<Vec<Listed>, Failure> {
        let filter = metadata
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut all = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let mut query = vec![
                ("metadata", filter.clone()),
                ("state", "running,paused".into()),
                ("limit", "100".into()),
            ];
            if let Some(token) = &next {
                query.push(("nextToken", token.clone()));
            }
            let response = send(
                self.request(reqwest::Method::GET, "/v2/sandboxes")
                    .query(&query),
            )
            .await?;
            next = response
                .headers()
                .get("x-next-token")
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .map(String::from);
            let page: Vec<Listed> = response.json().await.map_err(|e| {
                Failure::Unavailable(format!("E2B answered a list with an unexpected body: {e}"))
            })?;
            let empty = page.is_empty();
            all.extend(page);
            if next.is_none() || empty {
                return Ok(all);
            }
        }
    }
}

/// Percent-encoding of a metadata key or value inside the `metadata` parameter.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn metadata_is_percent_encoded() {
        assert_eq!(super::encode("a b&c=d"), "a%20b%26c%3Dd");
        assert_eq!(super::encode("e2b-native.pid"), "e2b-native.pid");
    }
}
