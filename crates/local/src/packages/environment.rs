//! The data-science environment: the Python packages E2B's code-interpreter
//! template comes with (IPython, numpy, pandas, matplotlib, E2B's chart
//! extractor, …; every version pinned), installed once like any package set
//! (in an install sandbox, through the registry proxy) into the shared cache,
//! kept there (never evicted), and shown read-only to Python sandboxes on
//! `PYTHONPATH`. Offline after that; `npx e2b-native prepare` installs it
//! ahead, for a Dockerfile step.

use std::path::{Path, PathBuf};
use std::time::Duration;

use e2b_native_core::{CancellationToken, Error, Language, Request};

use super::{Packages, Prepared, Sandbox};
use crate::interpreters::Interpreter;
use crate::protocol::Isolation;

/// The pinned list, as the kernels' tests use it.
const REQUIREMENTS: &str = include_str!("../../../kernels/requirements.txt");
/// Sets whose name starts so are never evicted.
pub(super) const PINNED: &str = "environment-";
/// Installing ~330 MB of wheels takes about a minute from PyPI.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// When Python sandboxes get the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DataScience {
    /// Once it is installed (by a session, `serve`, `npx e2b-native prepare`,
    /// or a service with `Always`).
    #[default]
    WhenPrepared,
    /// Installed by the first call that needs it.
    Always,
    Never,
}

impl Packages {
    /// The environment's `PYTHONPATH` directory for `interpreter`: from the
    /// cache, or (`install`) installed now.
    pub(crate) async fn data_science(
        &self,
        helper: &Path,
        isolation: Isolation,
        interpreter: &Interpreter,
        install: bool,
        cancel: &CancellationToken,
    ) -> Result<Option<PathBuf>, Error> {
        let packages = requirements();
        let key = format!(
            "{PINNED}data-science-{}",
            self.key(Language::Python, interpreter, &packages)
        );
        if !install {
            return Ok(self.cache.try_use(&key)?.map(|set| set.dir.join("python")));
        }
        let mut request = Request::new(Language::Python, "");
        request.install_timeout = INSTALL_TIMEOUT;
        request.timeout = INSTALL_TIMEOUT;
        let sandbox = Sandbox {
            helper,
            isolation,
            interpreter,
        };
        match self
            .prepare_set(&key, &sandbox, &request, &packages, cancel)
            .await?
        {
            Prepared::Ready(set) => Ok(Some(set.dir.join("python"))),
            Prepared::Failed(outcome) => Err(Error::InterpreterUnavailable(format!(
                "the data-science environment could not be installed (exit {}): {}. Install it \
                 where the registries are reachable (`npx e2b-native prepare`), point \
                 packages.pythonIndexUrl or packages.pythonWheelDir at a mirror, or turn it off \
                 with dataScience: false",
                outcome.exit_code,
                tail(&outcome.stderr)
            ))),
        }
    }
}

/// The pinned specs: the list's lines but comments and blanks.
fn requirements() -> Vec<String> {
    REQUIREMENTS
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(String::from)
        .collect()
}

/// The end of an installer's output, where pip says what went wrong.
fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.trim().lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_list_is_pinned_specs_the_installer_accepts() {
        let specs = super::requirements();
        assert!(specs.len() > 10);
        assert!(specs.iter().all(|s| s.contains("==")), "{specs:?}");
        assert!(specs.iter().any(|s| s.starts_with("ipython==")));
        e2b_native_core::validate_packages(e2b_native_core::Language::Python, &specs).unwrap();
    }
}
