/// Failures of the system, not of the user's code. Each maps to one stable
/// JavaScript `code`, and its message says what to do about it.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    #[error("{0}")]
    InvalidArg(String),
    #[error("{0}")]
    NotConfigured(String),
    #[error("{0}")]
    IsolationUnavailable(String),
    #[error("{0}")]
    InterpreterUnavailable(String),
    #[error("{0}")]
    E2bAuth(String),
    #[error("{0}")]
    E2bRateLimit(String),
    #[error("{0}")]
    E2bUnavailable(String),
    /// `serve` cannot listen where it was asked to.
    #[error("{0}")]
    Listen(String),
    #[error("the service was closed: create a new E2BService to run more code")]
    Closed,
    /// A session ended (closed, idle, past its lifetime, or its sandbox
    /// died); the message says which.
    #[error("{0}")]
    SessionEnded(String),
    /// A path of a session's work dir that does not exist.
    #[error("{0}")]
    NotFound(String),
    #[error("the operation was aborted")]
    Aborted,
    #[error("internal error: {0}. This is a bug in e2b-native; please report it")]
    Internal(String),
}

impl Error {
    /// The stable `code` property JavaScript sees on the rejection.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidArg(_) => "ERR_INVALID_ARG",
            Error::NotConfigured(_) => "ERR_NOT_CONFIGURED",
            Error::IsolationUnavailable(_) => "ERR_ISOLATION_UNAVAILABLE",
            Error::InterpreterUnavailable(_) => "ERR_INTERPRETER_UNAVAILABLE",
            Error::E2bAuth(_) => "ERR_E2B_AUTH",
            Error::E2bRateLimit(_) => "ERR_E2B_RATE_LIMIT",
            Error::E2bUnavailable(_) => "ERR_E2B_UNAVAILABLE",
            Error::Listen(_) => "ERR_LISTEN",
            Error::Closed | Error::SessionEnded(_) => "ERR_CLOSED",
            Error::NotFound(_) => "ERR_NOT_FOUND",
            Error::Aborted => "ABORT_ERR",
            Error::Internal(_) => "ERR_INTERNAL",
        }
    }

    pub fn invalid_arg(message: impl Into<String>) -> Self {
        Error::InvalidArg(message.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        assert_eq!(Error::invalid_arg("x").code(), "ERR_INVALID_ARG");
        assert_eq!(Error::Aborted.code(), "ABORT_ERR");
        assert_eq!(Error::Closed.code(), "ERR_CLOSED");
        assert_eq!(
            Error::IsolationUnavailable("x".into()).code(),
            "ERR_ISOLATION_UNAVAILABLE"
        );
    }
}
