//! The server's wire formats, checked with a plain HTTP client (the Jest suite
//! checks them with the official SDK): what an E2B client written from the
//! protocol, such as this package's e2b backend, sees.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use e2b_native_server::{LogLevel, Server, ServerConfig};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const KEY: &str = "e2b_0123456789abcdef";

/// The sandbox helper `cargo test --workspace` builds; None when it was not
/// built (`cargo test -p e2b-native-server` alone): the tests then skip.
fn helper() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("E2B_NATIVE_SANDBOX_HELPER") {
        return Some(path.into());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let path = target.join("debug").join("e2b-sandbox");
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "skipped: build the helper first (cargo build -p e2b-native-local --bin e2b-sandbox)"
        );
        None
    }
}

async fn server(max_sandboxes: usize) -> Option<Server> {
    let mut config = ServerConfig::new(helper()?);
    config.port = 0;
    config.api_keys = vec![KEY.into()];
    config.max_sandboxes = max_sandboxes;
    config.log_level = LogLevel::Silent;
    Some(
        e2b_native_server::start(config)
            .await
            .expect("the server starts"),
    )
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn create(server: &Server, body: Value) -> Value {
    let response = client()
        .post(format!("{}/v2/sandboxes", server.url()))
        .header("X-API-Key", KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

/// A request to a sandbox's envd (49983) or interpreter (49999).
fn data_plane(
    server: &Server,
    sandbox: &Value,
    port: u16,
    method: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    let mut request = client()
        .request(method, format!("{}{path}", server.url()))
        .header("E2b-Sandbox-Id", sandbox["sandboxID"].as_str().unwrap())
        .header("E2b-Sandbox-Port", port.to_string());
    if let Some(token) = sandbox["envdAccessToken"].as_str() {
        request = request.header("X-Access-Token", token);
    }
    request
}

/// Splits a Connect stream into its messages and its end-stream payload.
fn envelopes(body: &[u8]) -> (Vec<Value>, Value) {
    let (mut messages, mut end, mut rest) = (Vec::new(), Value::Null, body);
    while rest.len() >= 5 {
        let length = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let payload: Value = serde_json::from_slice(&rest[5..5 + length]).unwrap();
        if rest[0] & 2 != 0 {
            end = payload;
        } else {
            messages.push(payload);
        }
        rest = &rest[5 + length..];
    }
    assert!(rest.is_empty(), "a truncated envelope");
    (messages, end)
}

fn start_request(cmd: &str, envs: Value) -> Vec<u8> {
    let message = serde_json::to_vec(&json!({
        "process": { "cmd": "/bin/bash", "args": ["-l", "-c", cmd], "envs": envs },
        "stdin": false,
    }))
    .unwrap();
    let mut body = vec![0u8];
    body.extend_from_slice(&(message.len() as u32).to_be_bytes());
    body.extend_from_slice(&message);
    body
}

/// `GET /v2/sandboxes` filters by metadata and state and pages; creates a
/// second sandbox to page through, and returns it.
async fn lists_by_metadata_and_pages(server: &Server) -> Value {
    let url = server.url();
    let http = client();
    let get = |path: String| {
        http.get(format!("{url}{path}"))
            .header("X-API-Key", KEY)
            .send()
    };
    // The metadata filter as the JS SDK encodes it: each part, then the whole.
    let listed: Value = get("/v2/sandboxes?metadata=owner%3Da%252520b%26run%3D1".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let none: Value = get("/v2/sandboxes?metadata=owner%3Dsomeone".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(none, json!([]));
    let paused: Value = get("/v2/sandboxes?state=paused".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(paused, json!([]));

    let second = create(server, json!({ "templateID": "base" })).await;
    let page = get("/v2/sandboxes?limit=1".into()).await.unwrap();
    let token = page.headers()["x-next-token"].to_str().unwrap().to_string();
    let first: Value = page.json().await.unwrap();
    let next: Value = get(format!("/v2/sandboxes?limit=1&nextToken={token}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(first[0]["sandboxID"], next[0]["sandboxID"]);

    second
}

#[tokio::test]
async fn control_plane_creates_lists_extends_and_kills() {
    let Some(server) = server(2).await else {
        return;
    };
    let url = server.url();
    let sandbox = create(
        &server,
        json!({ "templateID": "base", "timeout": 60, "metadata": { "owner": "a b", "run": "1" } }),
    )
    .await;
    let id = sandbox["sandboxID"].as_str().unwrap().to_string();
    assert!(id.len() == 21 && id.starts_with('i'));
    assert_eq!(sandbox["envdVersion"], "0.6.13");
    assert!(sandbox["envdAccessToken"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));

    let http = client();
    let get = |path: String| {
        http.get(format!("{url}{path}"))
            .header("X-API-Key", KEY)
            .send()
    };
    let detail: Value = get(format!("/sandboxes/{id}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["metadata"], json!({ "owner": "a b", "run": "1" }));
    assert_eq!(detail["state"], "running");

    let second = lists_by_metadata_and_pages(&server).await;

    let third = http
        .post(format!("{url}/v2/sandboxes"))
        .header("X-API-Key", KEY)
        .json(&json!({ "templateID": "base" }))
        .send()
        .await
        .unwrap();
    assert_eq!(third.status(), 429);
    assert_eq!(third.json::<Value>().await.unwrap()["code"], 429);

    let timeout = http
        .post(format!("{url}/sandboxes/{id}/timeout"))
        .header("X-API-Key", KEY)
        .json(&json!({ "timeout": 0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(timeout.status(), 400);

    let wrong = http
        .get(format!("{url}/v2/sandboxes"))
        .header("X-API-Key", "e2b_ffff")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(wrong.json::<Value>().await.unwrap()["code"], 401);

    for sandbox_id in [id.as_str(), second["sandboxID"].as_str().unwrap()] {
        let deleted = http
            .delete(format!("{url}/sandboxes/{sandbox_id}"))
            .header("X-API-Key", KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
    }
    let gone = get(format!("/sandboxes/{id}")).await.unwrap();
    assert_eq!(gone.status(), 404);
    assert_eq!(gone.json::<Value>().await.unwrap()["code"], 404);
    let health = data_plane(&server, &sandbox, 49983, reqwest::Method::GET, "/health")
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 502);
    assert_eq!(server.sandboxes(), 0);
    server.close().await;
}

#[tokio::test]
async fn envd_streams_processes() {
    let Some(server) = server(4).await else {
        return;
    };
    let sandbox = create(
        &server,
        json!({ "templateID": "base", "envVars": { "GLOBAL": "g" } }),
    )
    .await;
    let start = |cmd: &str, timeout_ms: Option<u64>| {
        let mut request = data_plane(
            &server,
            &sandbox,
            49983,
            reqwest::Method::POST,
            "/process.Process/Start",
        )
        .header("Content-Type", "application/connect+json")
        .header("Connect-Protocol-Version", "1")
        .body(start_request(cmd, json!({ "LOCAL": "l" })));
        if let Some(ms) = timeout_ms {
            request = request.header("Connect-Timeout-Ms", ms.to_string());
        }
        request.send()
    };

    let response = start("echo $GLOBAL$LOCAL; echo err >&2; exit 3", None)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/connect+json"
    );
    let (messages, end) = envelopes(&response.bytes().await.unwrap());
    assert!(messages[0]["event"]["start"]["pid"].as_i64().unwrap() > 1);
    let text = |stream: &str| -> String {
        messages
            .iter()
            .filter_map(|m| m["event"]["data"][stream].as_str())
            .map(|b| {
                String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).unwrap())
                    .unwrap()
            })
            .collect()
    };
    assert_eq!(
        (text("stdout").as_str(), text("stderr").as_str()),
        ("gl\n", "err\n")
    );
    assert_eq!(
        messages.last().unwrap()["event"]["end"],
        json!({ "exitCode": 3, "exited": true, "status": "exit status 3", "error": "exit status 3" })
    );
    assert_eq!(end, json!({}));

    let response = start("sleep 30", Some(300)).await.unwrap();
    let (messages, end) = envelopes(&response.bytes().await.unwrap());
    assert_eq!(
        messages.last().unwrap()["event"]["end"]["status"],
        "signal: killed"
    );
    assert_eq!(end["error"]["code"], "deadline_exceeded");

    // Without the access token: envd's plain 401.
    let anonymous = client()
        .post(format!("{}/process.Process/List", server.url()))
        .header("E2b-Sandbox-Id", sandbox["sandboxID"].as_str().unwrap())
        .header("E2b-Sandbox-Port", "49983")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    server.close().await;
}

#[tokio::test]
async fn envd_moves_files_with_the_token_or_a_signature() {
    let Some(server) = server(4).await else {
        return;
    };
    let sandbox = create(&server, json!({ "templateID": "base" })).await;
    let uploaded: Value = data_plane(
        &server,
        &sandbox,
        49983,
        reqwest::Method::POST,
        "/files?path=dir/a.txt",
    )
    .header("Content-Type", "application/octet-stream")
    .body("content")
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        uploaded,
        json!([{ "path": "/home/user/dir/a.txt", "name": "a.txt", "type": "file" }])
    );
    let read = data_plane(
        &server,
        &sandbox,
        49983,
        reqwest::Method::GET,
        "/files?path=/home/user/dir/a.txt",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(read.text().await.unwrap(), "content");
    let missing = data_plane(
        &server,
        &sandbox,
        49983,
        reqwest::Method::GET,
        "/files?path=nope",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(missing.status(), 404);

    // A signed URL instead of the header.
    let token = sandbox["envdAccessToken"].as_str().unwrap();
    let digest = Sha256::digest(format!("dir/a.txt:read::{token}").as_bytes());
    let signature = format!(
        "v1_{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    );
    let signed = client()
        .get(format!("{}/files", server.url()))
        .query(&[("path", "dir/a.txt"), ("signature", signature.as_str())])
        .header("E2b-Sandbox-Id", sandbox["sandboxID"].as_str().unwrap())
        .header("E2b-Sandbox-Port", "49983")
        .send()
        .await
        .unwrap();
    assert_eq!(signed.text().await.unwrap(), "content");

    let stat: Value = data_plane(
        &server,
        &sandbox,
        49983,
        reqwest::Method::POST,
        "/filesystem.Filesystem/Stat",
    )
    .json(&json!({ "path": "dir/a.txt" }))
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(stat["entry"]["type"], "FILE_TYPE_FILE");
    assert_eq!(stat["entry"]["size"], "7");
    server.close().await;
}

#[tokio::test]
async fn the_interpreter_streams_ndjson_and_keeps_state() {
    let Some(server) = server(4).await else {
        return;
    };
    let sandbox = create(&server, json!({ "templateID": "code-interpreter-v1" })).await;
    let execute = |body: Value| {
        data_plane(&server, &sandbox, 49999, reqwest::Method::POST, "/execute")
            .json(&body)
            .send()
    };
    execute(json!({ "code": "x = 20" }))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let body = execute(json!({ "code": "print('hi')\nx * 2" }))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "number_of_executions",
            "stdout",
            "result",
            "end_of_execution"
        ]
    );
    assert_eq!(lines[0]["execution_count"], 2);
    assert_eq!(lines[1]["text"], "hi\n");
    assert_eq!(lines[2]["text"], "40");
    assert_eq!(lines[2]["is_main_result"], true);
    assert!(body.ends_with('\n') && !body.contains("\n\n"));

    // A result longer than a pipe holds, with output around it.
    let body = execute(json!({ "code": "print('a' * 100000)\n'x' * 300000" }))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let stdout: String = lines
        .iter()
        .filter(|l| l["type"] == "stdout")
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_eq!(stdout.len(), 100001);
    let result = lines.iter().find(|l| l["type"] == "result").unwrap();
    assert_eq!(result["text"].as_str().unwrap().len(), 300000);

    let unknown = execute(json!({ "code": "1", "context_id": "nope" }))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let both = execute(json!({ "code": "1", "context_id": "x", "language": "python" }))
        .await
        .unwrap();
    assert_eq!(both.status(), 400);
    server.close().await;
}

#[tokio::test]
async fn the_debug_sandbox_needs_no_key_and_lives_until_close() {
    let Some(server) = server(2).await else {
        return;
    };
    let debug = json!({ "sandboxID": "debug_sandbox_id" });
    let body = data_plane(&server, &debug, 49999, reqwest::Method::POST, "/execute")
        .json(&json!({ "code": "21 * 2" }))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains(r#""text":"42""#), "{body}");
    assert_eq!(server.sandboxes(), 1);
    tokio::time::timeout(Duration::from_secs(10), server.close())
        .await
        .expect("close kills the debug sandbox too");
}

#[tokio::test]
async fn one_authorization_layer_guards_envd_and_every_interpreter_endpoint() {
    let Some(server) = server(2).await else {
        return;
    };
    let sandbox = create(&server, json!({ "templateID": "base", "secure": true })).await;
    let token = sandbox["envdAccessToken"].as_str().unwrap().to_string();
    // The SDKs send this one with every interpreter call, /contexts included.
    assert_eq!(sandbox["trafficAccessToken"].as_str(), Some(token.as_str()));
    let id = sandbox["sandboxID"].as_str().unwrap();
    let request = |port: u16, method: reqwest::Method, path: &str| {
        client()
            .request(method, format!("{}{path}", server.url()))
            .header("E2b-Sandbox-Id", id)
            .header("E2b-Sandbox-Port", port.to_string())
    };
    use reqwest::Method;
    let endpoints = [
        (49999, Method::GET, "/contexts"),
        (49999, Method::POST, "/contexts"),
        (49999, Method::POST, "/execute"),
        (49999, Method::DELETE, "/contexts/nope"),
        (49999, Method::POST, "/contexts/nope/restart"),
        (49983, Method::GET, "/envs"),
        (49983, Method::POST, "/process.Process/List"),
    ];
    for (port, method, path) in &endpoints {
        let without = request(*port, method.clone(), path).send().await.unwrap();
        assert_eq!(without.status(), 401, "{method} {path} without a token");
        let wrong = request(*port, method.clone(), path)
            .header("X-Access-Token", "wrong")
            .header("E2B-Traffic-Access-Token", "wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{method} {path} with a wrong token");
    }
    for header in ["X-Access-Token", "E2B-Traffic-Access-Token"] {
        let listed = request(49999, Method::GET, "/contexts")
            .header(header, &token)
            .send()
            .await
            .unwrap();
        assert_eq!(listed.status(), 200, "/contexts with {header}");
    }
    let health = request(49999, Method::GET, "/health").send().await.unwrap();
    assert_eq!(health.status(), 200, "health is open");
    server.close().await;
}
