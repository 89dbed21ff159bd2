//! The one place a sandbox's shape is decided, for one-shot, warm and
//! session sandboxes alike, and the programs that run in them.

use std::collections::BTreeMap;

use base64::Engine;
use e2b_native_core::{Error, Language, Limits, Request};

use crate::interpreters::{sandbox_env, Interpreter};
use crate::protocol::{Isolation, Job, Mode, Program, SandboxLimits, Shape, Work, WorkFile};

/// Host uid/gid that a root caller's sandboxes run as: `nobody`.
pub const DEFAULT_HOST_ID_WHEN_ROOT: u32 = 65534;

/// Node reserves ~1 GiB of address space before it runs a line: where
/// RLIMIT_AS stands in for a memory cgroup, it gets that much more.
const NODE_RESERVE: u64 = 1 << 30;

/// RLIMIT_AS of a program where no memory cgroup bounds its sandbox.
pub(crate) fn address_space(memory_bytes: u64, node: bool) -> u64 {
    memory_bytes + if node { NODE_RESERVE } else { 0 }
}

/// The shape of a sandbox of tier `isolation` in `mode` with `limits`,
/// showing `interpreters`.
pub(crate) fn shape(
    mode: Mode,
    limits: &Limits,
    interpreters: &[(Language, &Interpreter)],
    isolation: Isolation,
) -> Shape {
    let mut binds = Vec::new();
    for (_, interpreter) in interpreters {
        for dir in [&interpreter.extra_bind, &interpreter.python_path]
            .into_iter()
            .flatten()
        {
            if !binds.contains(dir) {
                binds.push(dir.clone());
            }
        }
    }
    let runs_node = interpreters.iter().any(|(l, _)| *l == Language::Node);
    Shape {
        mode,
        isolation,
        binds,
        mounts: Vec::new(),
        limits: SandboxLimits {
            disk_bytes: limits.disk_bytes,
            memory_bytes: limits.memory_bytes,
            address_space_fallback: address_space(limits.memory_bytes, runs_node),
            processes: limits.processes,
            open_files: limits.open_files,
        },
        host_id_when_root: DEFAULT_HOST_ID_WHEN_ROOT,
        egress_port: None,
    }
}

/// The job of a one-shot call: `request`'s code run by `interpreter`, with
/// the sandbox's environment plus the call's, and its files.
pub(crate) fn job(interpreter: &Interpreter, request: &Request) -> Result<Job, Error> {
    Ok(Job {
        program: program(interpreter, request)?,
        cpu_seconds: request.limits.cpu_seconds,
        work: Work {
            files: request
                .files
                .iter()
                .map(|f| WorkFile {
                    path: f.path.clone(),
                    content: base64::engine::general_purpose::STANDARD.encode(&f.content),
                })
                .collect(),
            read_files: request.read_files.clone(),
            read_file_cap: request.limits.output_bytes as u64,
        },
    })
}

/// `request`'s code as `interpreter` runs it (`python3 -u -c`, `node -e`,
/// `bash -c`), in the sandbox's environment plus the request's.
pub(crate) fn program(interpreter: &Interpreter, request: &Request) -> Result<Program, Error> {
    let (language, code) = (request.language, &request.code);
    // Linux refuses a single argument over 128 KiB (MAX_ARG_STRLEN).
    const MAX_CODE: usize = 128 * 1024 - 1;
    if code.len() > MAX_CODE {
        return Err(Error::invalid_arg(format!(
            "code is {} bytes; the local backend runs programs of at most {MAX_CODE} bytes: \
             split it, or ship the bulk as data",
            code.len()
        )));
    }
    if code.contains('\0') {
        return Err(Error::invalid_arg("code contains a NUL byte"));
    }
    let mut argv: Vec<String> = match language {
        // -u: unbuffered, so output written before a timeout is not lost.
        Language::Python => &["python3", "-u", "-c"][..],
        Language::Node => &["node", "-e"][..],
        Language::Bash => &["bash", "-c"][..],
    }
    .iter()
    .map(|s| s.to_string())
    .chain([code.to_string()])
    .collect();
    // V8 must stop at a heap that fits, or the kernel kills it without a
    // word. In a memory cgroup Node sizes its heap from the limit: half of
    // it, but at least 256 MiB, so below 512 MiB only the flag fits it. The
    // flag costs ~5 ms a start (any V8 flag makes Node drop its code cache),
    // hence it is used only where it has to be.
    let mut flags_fallback = Vec::new();
    if language == Language::Node {
        let memory_mib = request.limits.memory_bytes >> 20;
        let flag = format!("--max-old-space-size={}", memory_mib * 3 / 4);
        match memory_mib < 512 {
            true => argv.insert(1, flag),
            false => flags_fallback.push(flag),
        }
    }
    let mut env: BTreeMap<String, String> = sandbox_env([interpreter]);
    env.extend(request.env.clone());
    Ok(Program {
        path: interpreter.path.clone(),
        argv,
        flags_fallback,
        env: env.into_iter().collect(),
        exec_on_go: false,
    })
}
