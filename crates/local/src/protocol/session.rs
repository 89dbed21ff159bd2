//! What the host and a long-lived sandbox's init say to each other (see
//! `crate::session`). One JSON object per `SOCK_SEQPACKET` message on the
//! helper's fd 3; the descriptors a request needs travel with it (`SCM_RIGHTS`).

use serde::{Deserialize, Serialize};

/// The descriptor init serves requests on, in the helper and in init.
pub const CONTROL_FD: i32 = 3;

/// The largest request message: argv, env and paths (a single argument cannot
/// exceed 128 KiB anyway).
pub const MAX_MESSAGE: usize = 256 * 1024;

/// Host to init.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Start a program. Attached descriptors become its fds 1, 2, 3, ... in
    /// order (stdin is /dev/null).
    Spawn {
        id: u64,
        argv: Vec<String>,
        env: Vec<(String, String)>,
        cwd: String,
        /// RLIMIT_CPU of the program, if any.
        cpu_seconds: Option<u64>,
        /// RLIMIT_AS of the program where no memory cgroup bounds the sandbox.
        address_space: u64,
    },
    /// Run a file operation as the sandbox user, under the same restrictions
    /// as its programs. Attached: the status pipe (written once, a
    /// [`FileReply`] line), then for `Read` and `Write` the data pipe.
    File { id: u64, op: FileOp },
    /// Send `signal` to process `pid` (a pid of the sandbox), or to its process
    /// group with `group`.
    Signal { pid: i32, signal: i32, group: bool },
}

/// Init to host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Reply {
    /// The root is built; requests are served from now on.
    Ready,
    /// Request `id` runs as `pid` (a pid of the sandbox).
    Started { id: u64, pid: i32 },
    /// Request `id` could not start.
    Refused { id: u64, message: String },
    /// The process of request `id` ended: `code` when it exited, `signal`
    /// when a signal killed it.
    Ended {
        id: u64,
        code: Option<i32>,
        signal: Option<i32>,
    },
}

/// A file operation; relative paths resolve against /home/user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FileOp {
    /// Reply with the file's entry, then copy its content to the data pipe.
    Read {
        path: String,
    },
    /// Create the parents, then replace the file with the data pipe's content.
    Write {
        path: String,
    },
    Stat {
        path: String,
    },
    /// Entries below `path`, `depth` levels deep (1 = its children).
    ListDir {
        path: String,
        depth: u32,
    },
    MakeDir {
        path: String,
    },
    Remove {
        path: String,
    },
    Rename {
        from: String,
        to: String,
    },
}

/// The outcome of a [`FileOp`], one JSON line on its status pipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileReply {
    Ok {
        entries: Vec<EntryInfo>,
    },
    Err {
        kind: FileErrorKind,
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileErrorKind {
    NotFound,
    AlreadyExists,
    IsDirectory,
    NotDirectory,
    NoSpace,
    PermissionDenied,
    InvalidPath,
    Other,
}

/// What E2B's `EntryInfo` says about a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryInfo {
    pub name: String,
    /// Absolute.
    pub path: String,
    pub kind: EntryKind,
    pub size: u64,
    /// The permission bits (and setuid/setgid/sticky).
    pub mode: u32,
    /// `ls -l` style, e.g. `-rw-r--r--`.
    pub permissions: String,
    pub owner: String,
    pub group: String,
    /// Seconds and nanoseconds since the epoch.
    pub modified: (i64, u32),
    pub symlink_target: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    File,
    Directory,
    Symlink,
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let request = Request::File {
            id: 7,
            op: FileOp::Rename {
                from: "a".into(),
                to: "b".into(),
            },
        };
        let text = serde_json::to_string(&request).unwrap();
        assert_eq!(
            text,
            r#"{"type":"file","id":7,"op":{"kind":"rename","from":"a","to":"b"}}"#
        );
        let reply: Reply =
            serde_json::from_str(r#"{"event":"ended","id":3,"code":0,"signal":null}"#).unwrap();
        assert_eq!(
            reply,
            Reply::Ended {
                id: 3,
                code: Some(0),
                signal: None
            }
        );
    }
}
