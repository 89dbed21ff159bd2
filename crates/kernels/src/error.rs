use thiserror::Error;

#[derive(Debug, Error)]
pub enum KernelError {
    #[error("language {0:?} is not supported: use python, javascript, typescript or bash")]
    UnknownLanguage(String),
    #[error("bash cannot run code containing a NUL byte: remove it from the code")]
    NulInBashCode,
    #[error("{0}")]
    InvalidEnv(String),
    #[error("the kernel sent a reply that is not valid ({source}): {line:?}")]
    BadReply {
        line: String,
        #[source]
        source: serde_json::Error,
    },
}
