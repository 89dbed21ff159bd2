//! The engine-agnostic half of e2b-native: what a caller asks for ([`Request`]),
//! what comes back ([`Outcome`]), and the rules both backends share: argument
//! validation, output capture with caps, and how a crash is named.

mod backend;
mod error;
mod error_name;
mod files;
mod language;
pub mod options;
mod output;
mod packages;
mod request;
mod service;
pub mod session;

pub use backend::{select_backend, Backend, BackendKind, BoxFuture, SelectionEnv, Unavailable};
pub use error::Error;
pub use error_name::uncaught_error_name;
pub use files::{check_files, work_dir_path, FileIn, WORK_DIR};
pub use language::Language;
pub use output::{Capture, OutputBuffer, Utf8Decoder};
pub use packages::{validate_packages, NPM_INSTALL, PIP_INSTALL};
pub use request::{
    validate_env, Limit, Limits, Outcome, Request, Sink, DEFAULT_TIMEOUT, KILLED_EXIT_CODE,
    TIMEOUT_EXIT_CODE,
};
pub use service::{Call, Defaults, Method, Service};
pub use tokio_util::sync::CancellationToken;

/// The port of envd, the daemon in every E2B sandbox (processes, files).
pub const ENVD_PORT: u16 = 49983;
/// The port of the code interpreter in E2B's code-interpreter sandboxes.
pub const INTERPRETER_PORT: u16 = 49999;
