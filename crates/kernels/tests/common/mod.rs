//! Runs a kernel as a child process (no sandbox) over the same fd protocol
//! as `serve`: requests on its fd 3, replies on its fd 4, output on 1 and 2.
#![allow(dead_code)] // each test binary uses a part

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use e2b_native_kernels::{encode_request, ExecutionError, ExecutionResult, Language, Reply};

/// How long one execution may take before the test fails.
const LIMIT: Duration = Duration::from_secs(120);

/// The data-science environment: the directory `e2b-native prepare` prints,
/// given as `E2B_NATIVE_PYTHON_ENV`. Without it the IPython tests skip,
/// except under CI, where they fail.
pub(crate) fn python_env() -> Result<PathBuf, String> {
    let reason = match std::env::var_os("E2B_NATIVE_PYTHON_ENV").map(PathBuf::from) {
        Some(dir) if dir.join("IPython").is_dir() => return Ok(dir),
        Some(dir) => format!(
            "{} holds no data-science environment (no IPython)",
            dir.display()
        ),
        None => "E2B_NATIVE_PYTHON_ENV is not set".into(),
    };
    let reason = format!("{reason}: set it to what `node bin/e2b-native.js prepare` prints");
    assert!(std::env::var_os("CI").is_none(), "{reason}");
    Err(reason)
}

/// A Python kernel on the data-science environment (IPython), or `None`
/// with the reason printed when the environment is not given.
pub(crate) fn ipython_kernel(options: Options) -> Option<Kernel> {
    let dir = match python_env() {
        Ok(dir) => dir,
        Err(reason) => {
            eprintln!("skipped: {reason}");
            return None;
        }
    };
    let options = Options {
        data_science: Some(dir.display().to_string()),
        ..options
    };
    start(Language::Python, options)
}

/// An interpreter for the language, or why there is none.
fn interpreter(language: Language) -> Result<String, String> {
    let found = |name: &str| {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
    };
    let path = match language {
        Language::Python => Some(PathBuf::from("/usr/bin/python3")).filter(|p| p.is_file()),
        Language::JavaScript | Language::TypeScript => found("node"),
        Language::Bash => found("bash"),
    };
    path.map(|p| p.display().to_string())
        .ok_or_else(|| format!("no interpreter for {language} on this host"))
}

/// A fresh working directory for a kernel, under cargo's scratch space for
/// integration tests, not the host's temp dir. A test binary cannot clean
/// up at its end, so each clears what ended runs left (`<pid>-<n>` of pids
/// no longer running) on its first call.
pub(crate) fn scratch_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    static SWEPT: std::sync::Once = std::sync::Once::new();
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kernels");
    SWEPT.call_once(|| {
        for entry in std::fs::read_dir(&base).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name.split('-').next().unwrap_or_default();
            if !PathBuf::from("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
    let dir = base.join(format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[derive(Debug, Clone)]
pub(crate) enum Item {
    Reply(Reply),
    Stdout(String),
    Stderr(String),
}

/// What one execution sent, in order; `ended` when the kernel went away.
#[derive(Debug, Default)]
pub(crate) struct Execution {
    pub items: Vec<Item>,
    pub ended: bool,
}

impl Execution {
    pub(crate) fn stdout_chunks(&self) -> Vec<String> {
        let chunks = self.items.iter().filter_map(|i| match i {
            Item::Stdout(s) => Some(s.clone()),
            _ => None,
        });
        chunks.collect()
    }

    pub(crate) fn stdout(&self) -> String {
        self.stdout_chunks().concat()
    }

    pub(crate) fn stderr(&self) -> String {
        let chunks = self.items.iter().filter_map(|i| match i {
            Item::Stderr(s) => Some(s.as_str()),
            _ => None,
        });
        chunks.collect()
    }

    pub(crate) fn results(&self) -> Vec<ExecutionResult> {
        let results = self.items.iter().filter_map(|i| match i {
            Item::Reply(r @ Reply::Display { .. }) => match r.clone().into_event() {
                Some(e2b_native_kernels::Event::Result(result)) => Some(*result),
                _ => None,
            },
            _ => None,
        });
        results.collect()
    }

    /// The main result's text, as the SDKs' `execution.text`.
    pub(crate) fn text(&self) -> Option<String> {
        let results = self.results();
        results
            .into_iter()
            .find(|r| r.is_main_result)
            .and_then(|r| r.text)
    }

    pub(crate) fn error(&self) -> Option<ExecutionError> {
        self.items.iter().find_map(|i| match i {
            Item::Reply(Reply::Error(e)) => Some(e.clone()),
            _ => None,
        })
    }

    pub(crate) fn count(&self) -> Option<u64> {
        self.items.iter().find_map(|i| match i {
            Item::Reply(Reply::Started { count }) => Some(*count),
            _ => None,
        })
    }
}

pub(crate) struct Options {
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    /// For Python: the data-science environment's directory.
    pub data_science: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cwd: scratch_dir(),
            env: Vec::new(),
            data_science: None,
        }
    }
}

pub(crate) struct Kernel {
    pub language: Language,
    child: Child,
    requests: std::io::PipeWriter,
    replies: OwnedFd,
    stdout: OwnedFd,
    stderr: OwnedFd,
    partial: Vec<u8>,
    /// The kernel's first reply.
    pub ready: Reply,
}

/// Starts a kernel for `language`, or says (on stderr) why the test skips.
pub(crate) fn start(language: Language, options: Options) -> Option<Kernel> {
    match interpreter(language) {
        Ok(interpreter) => Some(Kernel::start(language, &interpreter, options)),
        Err(reason) => {
            eprintln!("skipped: {reason}");
            None
        }
    }
}

fn nonblocking(fd: &impl AsRawFd) {
    // SAFETY: fcntl on a descriptor this process owns; no memory is involved.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}

impl Kernel {
    pub(crate) fn start(language: Language, interpreter: &str, options: Options) -> Kernel {
        let launch = language
            .kernel()
            .launch(interpreter, &[], options.data_science.as_deref());
        let (request_reader, mut requests) = std::io::pipe().unwrap();
        let (reply_reader, reply_writer) = std::io::pipe().unwrap();
        let (from, to) = (request_reader.as_raw_fd(), reply_writer.as_raw_fd());
        let mut command = Command::new(&launch.argv[0]);
        command
            .args(&launch.argv[1..])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::var_os("HOME").unwrap_or_default())
            .env("LANG", "C.UTF-8")
            // A temp dir of its own, as in a sandbox: what it leaves goes
            // with the scratch dir.
            .env("TMPDIR", &options.cwd)
            .envs(launch.env.iter().cloned())
            .envs(options.env.iter().cloned())
            .current_dir(&options.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: between fork and exec the closure only calls
        // async-signal-safe functions (setsid, fcntl, dup2) on descriptors
        // that stay open in the parent until spawn returns.
        unsafe {
            command.pre_exec(move || {
                libc::setsid();
                // Out of the way first, so neither lands on the other's target.
                let high_from = libc::fcntl(from, libc::F_DUPFD_CLOEXEC, 100);
                let high_to = libc::fcntl(to, libc::F_DUPFD_CLOEXEC, 100);
                if high_from < 0
                    || high_to < 0
                    || libc::dup2(high_from, 3) < 0
                    || libc::dup2(high_to, 4) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().unwrap();
        drop((request_reader, reply_writer));
        let stdout: OwnedFd = child.stdout.take().unwrap().into();
        let stderr: OwnedFd = child.stderr.take().unwrap().into();
        let replies: OwnedFd = reply_reader.into();
        for fd in [&replies, &stdout, &stderr] {
            nonblocking(fd);
        }
        requests.write_all(launch.preamble.as_bytes()).unwrap();
        let mut kernel = Kernel {
            language,
            child,
            requests,
            replies,
            stdout,
            stderr,
            partial: Vec::new(),
            ready: Reply::Done,
        };
        let first = kernel.collect(|items| items.iter().any(|i| matches!(i, Item::Reply(_))));
        kernel.ready = match first.items.iter().find_map(|i| match i {
            Item::Reply(r) => Some(r.clone()),
            _ => None,
        }) {
            Some(ready @ Reply::Ready { .. }) => ready,
            other => panic!("the kernel's first reply was {other:?}: {first:?}"),
        };
        kernel
    }

    pub(crate) fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub(crate) fn mode(&self) -> String {
        match &self.ready {
            Reply::Ready { mode, .. } => mode.clone(),
            _ => unreachable!(),
        }
    }

    pub(crate) fn run(&mut self, code: &str) -> Execution {
        self.run_with(code, &[])
    }

    pub(crate) fn run_with(&mut self, code: &str, env: &[(&str, &str)]) -> Execution {
        self.send(code, env);
        self.collect(done)
    }

    /// Runs `code`, interrupts it once it has written `marker` to stdout: as
    /// `serve` does, SIGINT to the kernel's process group, again every
    /// second until the execution ends (a signal that lands between two
    /// commands of bash, or as Node leaves a script, may go unanswered).
    pub(crate) fn run_interrupting(&mut self, code: &str, marker: &str) -> Execution {
        self.send(code, &[]);
        let mut seen = self.collect(|items| {
            let out: String = items
                .iter()
                .filter_map(|i| match i {
                    Item::Stdout(s) => Some(s.as_str()),
                    _ => None,
                })
                .collect();
            out.contains(marker) || done(items)
        });
        let deadline = Instant::now() + LIMIT;
        while !done(&seen.items) && !seen.ended {
            assert!(
                Instant::now() < deadline,
                "no end after {LIMIT:?}: {seen:?}"
            );
            self.interrupt();
            let rest = self.collect_for(done, Duration::from_secs(1));
            seen.items.extend(rest.items);
            seen.ended = rest.ended;
        }
        seen
    }

    pub(crate) fn interrupt(&self) {
        // SAFETY: kill(2) with the process group this kernel leads.
        unsafe { libc::kill(-self.pid(), libc::SIGINT) };
    }

    fn send(&mut self, code: &str, env: &[(&str, &str)]) {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let request = encode_request(self.language, code, &env).unwrap();
        self.requests.write_all(&request).unwrap();
    }

    /// Reads replies and output until `enough` holds of what came, or the
    /// kernel goes away; output written before a "done" comes before it.
    fn collect(&mut self, enough: impl Fn(&[Item]) -> bool) -> Execution {
        let execution = self.collect_for(&enough, LIMIT);
        assert!(
            execution.ended || enough(&execution.items),
            "no end after {LIMIT:?}: {execution:?}"
        );
        execution
    }

    /// As `collect`, giving up quietly after `limit`.
    fn collect_for(&mut self, enough: impl Fn(&[Item]) -> bool, limit: Duration) -> Execution {
        let deadline = Instant::now() + limit;
        let mut execution = Execution::default();
        loop {
            let ended = self.read_all(&mut execution.items);
            if ended || enough(&execution.items) || Instant::now() >= deadline {
                execution.ended = ended;
                return execution;
            }
            let mut fds = [&self.replies, &self.stdout, &self.stderr].map(|fd| libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
            // SAFETY: poll(2) on an array this frame owns, of open descriptors.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
        }
    }

    /// What the pipes hold now: stdout and stderr first, then replies (each
    /// reply is written after the output it follows). True at EOF on replies.
    fn read_all(&mut self, items: &mut Vec<Item>) -> bool {
        let mut replies = Vec::new();
        let reply_eof = read_available(&self.replies, &mut replies);
        for (fd, stdout) in [(&self.stdout, true), (&self.stderr, false)] {
            let mut bytes = Vec::new();
            read_available(fd, &mut bytes);
            if !bytes.is_empty() {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                items.push(if stdout {
                    Item::Stdout(text)
                } else {
                    Item::Stderr(text)
                });
            }
        }
        self.partial.extend(replies);
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            items.push(Item::Reply(Reply::parse(&line[..end]).unwrap()));
        }
        reply_eof
    }

    pub(crate) fn wait_for_exit(&mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }
}

fn done(items: &[Item]) -> bool {
    items.iter().any(|i| matches!(i, Item::Reply(Reply::Done)))
}

/// Reads a non-blocking descriptor until it has nothing more; true at EOF.
fn read_available(fd: &OwnedFd, out: &mut Vec<u8>) -> bool {
    let mut file = std::fs::File::from(fd.try_clone().unwrap());
    let mut buffer = [0u8; 65536];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => return true,
            Ok(n) => out.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        // SAFETY: kill(2) with the process group this kernel leads.
        unsafe { libc::kill(-self.pid(), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}
