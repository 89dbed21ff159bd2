//! The binding of `startServer` and of `e2b-native serve`'s command line.
//! Everything else lives in `crates/server`.

use std::path::PathBuf;
use std::sync::Mutex;

use e2b_native_core::options::Options;
use e2b_native_server::cli::{self, Command};
use e2b_native_server::{Server, ServerConfig};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::coded;

/// A running server; `close()` kills its sandboxes and stops it.
#[napi]
pub struct NativeServer {
    url: String,
    api_keys: Vec<String>,
    server: Mutex<Option<Server>>,
}

#[napi]
impl NativeServer {
    #[napi(getter)]
    pub fn url(&self) -> String {
        self.url.clone()
    }

    #[napi(getter)]
    pub fn api_keys(&self) -> Vec<String> {
        self.api_keys.clone()
    }

    /// Kills every sandbox of the server and stops listening; resolves once
    /// they are gone. Closing twice is harmless.
    #[napi]
    pub async fn close(&self) {
        let server = self.server.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(server) = server {
            server.close().await;
        }
    }
}

/// Starts `e2b-native serve` on napi's tokio runtime. `options`: those of
/// `startServer`, as JSON; `helper`: `E2B_NATIVE_SANDBOX_HELPER`, if set.
#[napi]
pub async fn start_server(options: String, helper: Option<String>) -> Result<NativeServer> {
    let helper = helper
        .map(PathBuf::from)
        .unwrap_or_else(super::default_helper);
    let value = Options::parse(&options).map_err(coded)?;
    let config = Options::new(&value, "startServer()")
        .and_then(|o| ServerConfig::read(&o, helper))
        .map_err(coded)?;
    let server = e2b_native_server::start(config).await.map_err(coded)?;
    Ok(NativeServer {
        url: server.url(),
        api_keys: server.api_keys().to_vec(),
        server: Mutex::new(Some(server)),
    })
}

/// `e2b-native serve`'s arguments as `startServer` options (JSON), or none
/// when they ask for help. A bad argument fails with `ERR_INVALID_ARG`.
#[napi]
pub fn parse_serve_args(args: Vec<String>, env_api_key: Option<String>) -> Result<Option<String>> {
    match cli::parse(&args, env_api_key.as_deref()) {
        Ok(Command::Serve(options)) => Ok(Some(options.to_string())),
        Ok(Command::Help) => Ok(None),
        Err(message) => Err(coded(e2b_native_core::Error::InvalidArg(message))),
    }
}

/// The help text of `e2b-native serve`.
#[napi]
pub fn serve_usage() -> String {
    cli::usage("e2b-native serve")
}
