//! The e2b backend of e2b-native: each execution in a fresh E2B cloud sandbox,
//! through E2B's control plane (REST), its code interpreter (`/execute`,
//! newline-delimited JSON) and envd (Connect RPC, `/files`).
//!
//! What the cloud cannot break: every call has a deadline that covers sandbox
//! creation; every sandbox is created with a TTL of (timeout + margin) so E2B
//! kills it even if this process dies, tagged so [`E2bBackend::reap_orphans`]
//! can find it, and deleted on every path, with retries.

mod api;
mod backend;
mod config;
mod envd;
mod host;
mod interpreter;
mod live;
mod retry;
mod session;

pub use backend::E2bBackend;
pub use config::E2bConfig;
pub use live::kill_all_blocking;
