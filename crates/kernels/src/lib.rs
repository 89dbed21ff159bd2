//! The code-interpreter kernels of e2b-native, shared by `e2b-native serve`
//! and the addon's sessions: one long-lived process per code context that
//! keeps its language's state across executions.
//!
//! This crate owns the kernel programs (Python on IPython, JavaScript and
//! TypeScript on Node.js, Bash), how to start each ([`launch`]), how to
//! encode an execution for each ([`request`], with the JS/TS cell
//! [`transform`]), and the replies decoded into E2B's `/execute` events
//! ([`reply`]). It starts nothing itself: the caller spawns the [`Launch`]
//! (in a sandbox), with the kernel's fd 3 a pipe it writes requests to and
//! fd 4 a pipe it reads replies from; the code's own output comes on fds 1
//! and 2. SIGINT to the kernel's process group interrupts the running
//! execution; the kernel stays usable.

mod error;
pub mod figures;
pub mod language;
pub mod launch;
pub mod reply;
pub mod request;
pub mod transform;

pub use error::KernelError;
pub use language::{KernelKind, Language};
pub use launch::Launch;
pub use reply::{Event, Execution, ExecutionError, ExecutionResult, Reply};
pub use request::{encode_request, validate_env};
