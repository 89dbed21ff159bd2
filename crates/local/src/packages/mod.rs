//! `executeWithPackages` on the local backend. A package set is installed
//! once, by pip or npm running in a sandbox of its own (same isolation, plus
//! a proxy that reaches only the package registries), into the shared cache;
//! the code's sandbox then gets it read-only, and still no network.

mod cache;
mod environment;
mod proxy;
mod sources;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use e2b_native_core::{
    CancellationToken, Error, Language, Limits, Outcome, Request, TIMEOUT_EXIT_CODE,
};
use sha2::{Digest, Sha256};

pub(crate) use cache::Lease;
pub use environment::DataScience;
pub(crate) use proxy::{serve as serve_proxy, serve_listener as serve_proxy_on, Egress};
pub use sources::PackageConfig;
use sources::{InstallPaths, Sources};

use crate::interpreters::Interpreter;
use crate::protocol::{Isolation, Job, Mode, Program, Shape, Spec, Work};
use crate::run::Proxy;
use crate::shape;

/// How often a call waiting for another's install of the same set looks again.
const WAIT_STEP: Duration = Duration::from_millis(50);
/// How often the host measures what an install has written.
const DISK_CHECK: Duration = Duration::from_millis(200);

#[derive(Debug)]
pub(crate) struct Packages {
    sources: Sources,
    cache: cache::Cache,
}

/// A package set ready for the code, or the install's failure as the result.
pub(crate) enum Prepared {
    Ready(Lease),
    Failed(Box<Outcome>),
}

impl Packages {
    /// Checks the settings; nothing is created until the first install.
    pub(crate) fn new(config: &PackageConfig, sandbox_owner: Option<u32>) -> Result<Self, Error> {
        Ok(Packages {
            sources: Sources::new(config)?,
            cache: cache::Cache::new(
                config.cache_dir.clone(),
                config.max_cache_bytes,
                sandbox_owner,
            )?,
        })
    }

    /// Makes `request.packages` ready: from the cache, after another call's
    /// install of the same set, or by installing them now.
    pub(crate) async fn prepare(
        &self,
        helper: &Path,
        isolation: Isolation,
        interpreter: &Interpreter,
        request: &Request,
        cancel: &CancellationToken,
    ) -> Result<Prepared, Error> {
        let mut packages = request.packages.clone();
        packages.sort();
        packages.dedup();
        let key = format!(
            "{}-{}",
            request.language,
            self.key(request.language, interpreter, &packages)
        );
        let sandbox = Sandbox {
            helper,
            isolation,
            interpreter,
        };
        self.prepare_set(&key, &sandbox, request, &packages, cancel)
            .await
    }

    /// Makes the set `key` of `packages` ready (see [`Packages::prepare`]).
    async fn prepare_set(
        &self,
        key: &str,
        sandbox: &Sandbox<'_>,
        request: &Request,
        packages: &[String],
        cancel: &CancellationToken,
    ) -> Result<Prepared, Error> {
        let waited_until = tokio::time::Instant::now() + request.install_timeout;
        loop {
            if let Some(lease) = self.cache.try_use(key)? {
                return Ok(Prepared::Ready(lease));
            }
            if let Some(build) = self.cache.try_build(key)? {
                let failure = self
                    .install(sandbox, request, packages, &build.temp, cancel)
                    .await;
                return match failure? {
                    None => {
                        let lease = build.commit()?;
                        // Walking the cache is blocking I/O, and nobody waits for it.
                        let cache = self.cache.clone();
                        tokio::task::spawn_blocking(move || cache.evict());
                        Ok(Prepared::Ready(lease))
                    }
                    Some(outcome) => Ok(Prepared::Failed(Box::new(outcome))),
                };
            }
            if tokio::time::Instant::now() >= waited_until {
                let message = format!(
                    "another call has been installing {} for longer than installTimeoutMs ({} ms)\n",
                    packages.join(" "),
                    request.install_timeout.as_millis()
                );
                return Ok(Prepared::Failed(Box::new(install_failure(
                    TIMEOUT_EXIT_CODE,
                    message,
                    sandbox.isolation,
                ))));
            }
            tokio::select! {
                _ = tokio::time::sleep(WAIT_STEP) => {}
                _ = cancel.cancelled() => return Err(Error::Aborted),
            }
        }
    }

    /// Identifies a package set: the interpreter, the sources, the sorted specs.
    fn key(&self, language: Language, interpreter: &Interpreter, packages: &[String]) -> String {
        let binary = std::fs::metadata(&interpreter.path)
            .map(|m| (m.len(), m.modified().ok()))
            .ok();
        let identity = format!(
            "e2b-native packages v1\n{}\n{}\n{binary:?}\n{}\n{}",
            language,
            interpreter.path.display(),
            self.sources.describe(language),
            packages.join("\n")
        );
        let digest = Sha256::digest(identity.as_bytes());
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    /// Installs into `dir` in an install sandbox; the failure as a result, if any.
    async fn install(
        &self,
        sandbox: &Sandbox<'_>,
        request: &Request,
        packages: &[String],
        dir: &Path,
        cancel: &CancellationToken,
    ) -> Result<Option<Outcome>, Error> {
        let (language, interpreter, isolation) =
            (request.language, sandbox.interpreter, sandbox.isolation);
        let mut install = Request::new(language, String::new());
        install.timeout = request.install_timeout;
        // Builds need room; the sandbox still bounds them.
        let limits = &request.limits;
        install.limits = Limits {
            output_bytes: limits.output_bytes,
            disk_bytes: limits.disk_bytes.max(2 << 30),
            memory_bytes: limits.memory_bytes.max(2 << 30),
            processes: limits.processes.max(256),
            cpu_seconds: None,
            open_files: limits.open_files.max(4096),
        };
        let allowed = self.sources.allowed(language);
        let egress = (!allowed.is_empty()).then(|| Egress::new(allowed));
        let mut shape = shape::shape(
            Mode::OneShot,
            &install.limits,
            &[(language, interpreter)],
            isolation,
        );
        let (proxy, proxy_port) = proxy_for(isolation, egress.clone())?;
        let downloads = self.cache.downloads()?;
        let at = InstallPaths {
            set: shape.mount(dir.to_path_buf(), sources::PACKAGES_DIR, true),
            downloads: shape.mount(downloads.clone(), sources::DOWNLOADS_DIR, true),
            wheels: self
                .sources
                .wheel_dir(language)
                .map(|w| shape.mount(w.to_path_buf(), sources::WHEELS_DIR, false)),
            proxy_port,
        };
        shape.egress_port = proxy.as_ref().map(|_| proxy_port);
        install.env.extend(self.sources.installer_env(proxy_port));
        let mut program = shape::program(interpreter, &install)?;
        program.argv = self
            .sources
            .installer_argv(language, &interpreter.path, packages, &at);
        let spec = Spec {
            shape,
            job: Some(Job {
                program,
                cpu_seconds: None,
                work: Work::default(),
            }),
            room: None,
        };
        let started = std::time::SystemTime::now();
        let written = [dir.to_path_buf(), downloads.clone()];
        let ran = run_within_disk(sandbox.helper, spec, &install, cancel, proxy, written).await;
        if matches!(&ran, Ok(Some(o)) if o.exit_code == 0 && o.limit.is_none()) {
            return Ok(None);
        }
        // A failed install leaves nothing in the download cache (its set's
        // folder goes with the build).
        let _ = tokio::task::spawn_blocking(move || {
            cache::remove_changed_since(&downloads, started);
        })
        .await;
        let Some(outcome) = ran? else {
            let message = format!(
                "installing {} stopped: DiskLimitError: it wrote more than {} bytes into its \
                 folder and the download cache (limits.diskBytes, at least 2 GiB for installs)\n",
                packages.join(" "),
                install.limits.disk_bytes
            );
            return Ok(Some(install_failure(1, message, isolation)));
        };
        let mut output = outcome.stdout;
        output.push_str(&outcome.stderr);
        for note in egress.iter().flat_map(|e| e.notes()) {
            output.push_str(&format!("\n{note}\n"));
        }
        if let Some(limit) = outcome.limit {
            output.push_str(&format!(
                "\ninstalling {} stopped: {} (installTimeoutMs is {} ms)\n",
                packages.join(" "),
                limit.error_name(),
                request.install_timeout.as_millis()
            ));
        }
        let status = if outcome.exit_code == 0 {
            1
        } else {
            outcome.exit_code
        };
        Ok(Some(install_failure(status, output, isolation)))
    }
}

/// Runs an install sandbox while the host measures what it writes into
/// `written` (its set's folder, and the download cache beyond its size at
/// the start): past the install's disk limit the sandbox is stopped and,
/// once every process of it is gone, `Ok(None)` says so. Space reserved at
/// once (`fallocate`) is on the disk until the next measure, at most
/// `DISK_CHECK` later.
async fn run_within_disk(
    helper: &Path,
    spec: Spec,
    install: &Request,
    cancel: &CancellationToken,
    proxy: Option<Proxy>,
    written: [std::path::PathBuf; 2],
) -> Result<Option<Outcome>, Error> {
    let budget = install.limits.disk_bytes;
    let measure = move || {
        let [set, downloads] = written.clone();
        tokio::task::spawn_blocking(move || (cache::size_of(&set), cache::size_of(&downloads)))
    };
    let (_, downloads_before) = measure().await.unwrap_or_default();
    let over = async {
        loop {
            tokio::time::sleep(DISK_CHECK).await;
            let (set, downloads) = measure().await.unwrap_or_default();
            if set + downloads.saturating_sub(downloads_before) > budget {
                return;
            }
        }
    };
    let stop = cancel.child_token();
    let run = crate::run::run(helper, spec, install, &stop, proxy);
    tokio::pin!(run);
    tokio::select! {
        outcome = &mut run => return outcome.map(Some),
        () = over => stop.cancel(),
    }
    match run.await {
        Err(Error::Aborted) if !cancel.is_cancelled() => Ok(None),
        other => other.map(Some),
    }
}

/// The install sandbox being made: its helper, tier and interpreter.
struct Sandbox<'a> {
    helper: &'a Path,
    isolation: Isolation,
    interpreter: &'a Interpreter,
}

/// An install step's proxy and the port the installer reaches it on: the
/// sandbox's own loopback in the full tier, else one the host listens on.
fn proxy_for(
    isolation: Isolation,
    egress: Option<Arc<Egress>>,
) -> Result<(Option<Proxy>, u16), Error> {
    let Some(egress) = egress else {
        return Ok((None, proxy::PROXY_PORT));
    };
    match isolation {
        Isolation::Namespaces => Ok((Some(Proxy::FromSandbox(egress)), proxy::PROXY_PORT)),
        Isolation::Landlock => {
            let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
                .map_err(|e| Error::Internal(format!("listening for an install's proxy: {e}")))?;
            let port = listener
                .local_addr()
                .map_err(|e| Error::Internal(format!("the proxy's port: {e}")))?
                .port();
            Ok((Some(Proxy::OnHost(egress, listener)), port))
        }
    }
}

/// Binds a ready set into the code's sandbox, read-only, and makes it
/// importable by its program.
pub(crate) fn use_set(shape: &mut Shape, program: &mut Program, lease: &Lease, language: Language) {
    let set = shape.mount(lease.dir.clone(), sources::PACKAGES_DIR, false);
    let (name, dir) = sources::run_env(language, &set);
    match program.env.iter_mut().find(|(k, _)| k == name) {
        Some((_, value)) => *value = format!("{dir}:{value}"),
        None => program.env.push((name.into(), dir)),
    }
}

fn install_failure(exit_code: i32, stderr: String, isolation: Isolation) -> Outcome {
    Outcome {
        stdout: String::new(),
        stderr,
        exit_code,
        error: Some("PackageInstallError".into()),
        timed_out: false,
        truncated: false,
        limit: None,
        duration: Duration::ZERO,
        backend: "local",
        isolation: isolation.as_str(),
        files: Vec::new(),
        results: Vec::new(),
    }
}
