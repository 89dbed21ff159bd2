//! `executeWithPackages` on the local backend. A package set is installed
//! once, by pip or npm running in a sandbox of its own (same isolation, plus
//! a proxy that reaches only the package registries), into the shared cache;
//! the code's sandbox then gets it read-only, and still no network.

mod cache;
mod proxy;
mod sources;

use std::path::Path;
use std::time::Duration;

use e2b_native_core::{
    CancellationToken, Error, Language, Limits, Outcome, Request, TIMEOUT_EXIT_CODE,
};
use sha2::{Digest, Sha256};

pub(crate) use cache::Lease;
pub(crate) use proxy::{serve as serve_proxy, Egress};
pub use sources::PackageConfig;
use sources::Sources;

use crate::interpreters::Interpreter;
use crate::protocol::{Job, Mode, Mount, Program, Shape, Spec, Work};
use crate::shape;

/// How often a call waiting for another's install of the same set looks again.
const WAIT_STEP: Duration = Duration::from_millis(50);

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
        interpreter: &Interpreter,
        request: &Request,
        cancel: &CancellationToken,
    ) -> Result<Prepared, Error> {
        let mut packages = request.packages.clone();
        packages.sort();
        packages.dedup();
        let key = self.key(request, interpreter, &packages);
        let waited_until = tokio::time::Instant::now() + request.install_timeout;
        loop {
            if let Some(lease) = self.cache.try_use(&key)? {
                return Ok(Prepared::Ready(lease));
            }
            if let Some(build) = self.cache.try_build(&key)? {
                let failure = self
                    .install(helper, interpreter, request, &packages, &build.temp, cancel)
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
                ))));
            }
            tokio::select! {
                _ = tokio::time::sleep(WAIT_STEP) => {}
                _ = cancel.cancelled() => return Err(Error::Aborted),
            }
        }
    }

    /// Identifies a package set: the interpreter, the sources, the sorted specs.
    fn key(&self, request: &Request, interpreter: &Interpreter, packages: &[String]) -> String {
        let binary = std::fs::metadata(&interpreter.path)
            .map(|m| (m.len(), m.modified().ok()))
            .ok();
        let identity = format!(
            "e2b-native packages v1\n{}\n{}\n{binary:?}\n{}\n{}",
            request.language,
            interpreter.path.display(),
            self.sources.describe(request.language),
            packages.join("\n")
        );
        let digest = Sha256::digest(identity.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("{}-{}", request.language, &hex[..32])
    }

    /// Installs into `dir` in an install sandbox; the failure as a result, if any.
    async fn install(
        &self,
        helper: &Path,
        interpreter: &Interpreter,
        request: &Request,
        packages: &[String],
        dir: &Path,
        cancel: &CancellationToken,
    ) -> Result<Option<Outcome>, Error> {
        let language = request.language;
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
        install.env.extend(self.sources.installer_env());
        let mut shape = shape::shape(Mode::OneShot, &install.limits, &[(language, interpreter)]);
        let mut program = shape::program(interpreter, &install)?;
        program.argv = self
            .sources
            .installer_argv(language, &interpreter.path, packages);
        shape.mounts.push(Mount {
            source: dir.to_path_buf(),
            target: sources::PACKAGES_DIR.into(),
            writable: true,
        });
        shape.mounts.push(Mount {
            source: self.cache.downloads()?,
            target: sources::DOWNLOADS_DIR.into(),
            writable: true,
        });
        if let Some(wheels) = self.sources.wheel_dir(language) {
            shape.mounts.push(Mount {
                source: wheels.to_path_buf(),
                target: sources::WHEELS_DIR.into(),
                writable: false,
            });
        }
        let allowed = self.sources.allowed(language);
        let egress = (!allowed.is_empty()).then(|| Egress::new(allowed));
        shape.egress_port = egress.as_ref().map(|_| proxy::PROXY_PORT);
        let spec = Spec {
            shape,
            job: Some(Job {
                program,
                cpu_seconds: None,
                work: Work::default(),
            }),
        };
        let outcome = crate::run::run(helper, &spec, &install, cancel, egress.clone()).await?;
        if outcome.exit_code == 0 && outcome.limit.is_none() {
            return Ok(None);
        }
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
        Ok(Some(install_failure(status, output)))
    }
}

/// Binds a ready set into the code's sandbox, read-only, and makes it
/// importable by its program.
pub(crate) fn use_set(shape: &mut Shape, program: &mut Program, lease: &Lease, language: Language) {
    shape.mounts.push(Mount {
        source: lease.dir.clone(),
        target: sources::PACKAGES_DIR.into(),
        writable: false,
    });
    let (name, dir) = sources::run_env(language);
    match program.env.iter_mut().find(|(k, _)| k == name) {
        Some((_, value)) => *value = format!("{dir}:{value}"),
        None => program.env.push((name.into(), dir)),
    }
}

fn install_failure(exit_code: i32, stderr: String) -> Outcome {
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
        files: Vec::new(),
    }
}
