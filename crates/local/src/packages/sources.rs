//! Where packages come from, as the caller configured them, and the installer
//! command for a package set: pip or npm, arguments as argv (no shell), every
//! spec already validated and after `--`.

use std::path::{Path, PathBuf};

use e2b_native_core::options::{check_url, Options};
use e2b_native_core::{Error, Language, NPM_INSTALL, PIP_INSTALL};

pub(super) const DEFAULT_PYTHON_INDEX: &str = "https://pypi.org/simple";
pub(super) const DEFAULT_NPM_REGISTRY: &str = "https://registry.npmjs.org/";
/// PyPI's index names its files on this host.
const PYPI_FILES: &str = "files.pythonhosted.org";

/// Where a sandbox with a root of its own shows the package set's directory,
/// the download cache (install only), the local wheel folder (install only).
pub(super) const PACKAGES_DIR: &str = "/packages";
pub(super) const DOWNLOADS_DIR: &str = "/packages-cache";
pub(super) const WHEELS_DIR: &str = "/packages-wheels";

/// Where an install sandbox sees what it uses, and its proxy's port.
pub(super) struct InstallPaths {
    pub(super) set: PathBuf,
    pub(super) downloads: PathBuf,
    pub(super) wheels: Option<PathBuf>,
    pub(super) proxy_port: u16,
}
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Package settings as the caller gives them (`packages` constructor option).
#[derive(Debug, Clone, Default)]
pub struct PackageConfig {
    /// The shared cache; default `$XDG_CACHE_HOME/e2b-native` or
    /// `~/.cache/e2b-native` (`/var/cache/e2b-native` for root).
    pub cache_dir: Option<PathBuf>,
    /// Bound of the cache in bytes; default 2 GiB.
    pub max_cache_bytes: Option<u64>,
    /// A PEP 503 index; default PyPI, or none when only `python_wheel_dir` is set.
    pub python_index_url: Option<String>,
    /// A local folder of wheels (`--find-links`).
    pub python_wheel_dir: Option<PathBuf>,
    /// An npm registry; default registry.npmjs.org.
    pub npm_registry: Option<String>,
    /// More `host` or `host:port` an install may reach (a mirror's file host).
    pub allow_hosts: Vec<String>,
}

/// Validated sources.
#[derive(Debug, Clone)]
pub(super) struct Sources {
    python_index: Option<url::Url>,
    python_wheels: Option<PathBuf>,
    npm_registry: url::Url,
    allow_hosts: Vec<(String, u16)>,
}

impl PackageConfig {
    /// The constructor's `packages` option.
    pub fn read(options: &Options<'_>) -> Result<Self, Error> {
        let given = options.object("packages", "packages.")?;
        given.only(&[
            "cacheDir",
            "maxCacheBytes",
            "pythonIndexUrl",
            "pythonWheelDir",
            "npmRegistry",
            "allowHosts",
        ])?;
        Ok(PackageConfig {
            cache_dir: given.string("cacheDir")?.map(PathBuf::from),
            max_cache_bytes: given.whole("maxCacheBytes", 1, 1 << 50)?,
            python_index_url: given.string("pythonIndexUrl")?,
            python_wheel_dir: given.string("pythonWheelDir")?.map(PathBuf::from),
            npm_registry: given.string("npmRegistry")?,
            allow_hosts: given.strings("allowHosts")?.unwrap_or_default(),
        })
    }
}

impl Sources {
    pub(super) fn new(config: &PackageConfig) -> Result<Self, Error> {
        let python_index = match (&config.python_index_url, &config.python_wheel_dir) {
            (Some(u), _) => Some(check_url("packages.pythonIndexUrl", u)?),
            (None, Some(_)) => None,
            (None, None) => Some(check_url("packages.pythonIndexUrl", DEFAULT_PYTHON_INDEX)?),
        };
        let python_wheels = match &config.python_wheel_dir {
            Some(dir) if !dir.is_absolute() || !dir.is_dir() => {
                return Err(Error::invalid_arg(format!(
                    "packages.pythonWheelDir must be an absolute path to a folder, got {}",
                    dir.display()
                )))
            }
            other => other.clone(),
        };
        let npm_registry = check_url(
            "packages.npmRegistry",
            config
                .npm_registry
                .as_deref()
                .unwrap_or(DEFAULT_NPM_REGISTRY),
        )?;
        let allow_hosts = config
            .allow_hosts
            .iter()
            .map(|h| {
                let bad = || {
                    Error::invalid_arg(format!(
                        "packages.allowHosts: {h:?} is not a host or host:port"
                    ))
                };
                let url = url::Url::parse(&format!("https://{h}")).map_err(|_| bad())?;
                match (url.host_str(), url.path(), url.username()) {
                    (Some(host), "/", "") => Ok((
                        host.trim_matches(['[', ']']).to_string(),
                        url.port().unwrap_or(443),
                    )),
                    _ => Err(bad()),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Sources {
            python_index,
            python_wheels,
            npm_registry,
            allow_hosts,
        })
    }

    /// The hosts an install for `language` may reach through the proxy.
    pub(super) fn allowed(&self, language: Language) -> Vec<(String, u16)> {
        let mut allowed = self.allow_hosts.clone();
        let registry = match language {
            Language::Python => self.python_index.as_ref(),
            _ => Some(&self.npm_registry),
        };
        if let Some(url) = registry {
            let host = url
                .host_str()
                .unwrap_or_default()
                .trim_matches(['[', ']'])
                .to_string();
            if host == "pypi.org" {
                allowed.push((PYPI_FILES.into(), 443));
            }
            allowed.push((host, url.port_or_known_default().unwrap_or(443)));
        }
        allowed
    }

    /// Identifies the sources in a package set's cache key.
    pub(super) fn describe(&self, language: Language) -> String {
        match language {
            Language::Python => format!(
                "index={:?} wheels={:?}",
                self.python_index.as_ref().map(url::Url::as_str),
                self.python_wheels,
            ),
            _ => format!("registry={}", self.npm_registry),
        }
    }

    pub(super) fn wheel_dir(&self, language: Language) -> Option<&Path> {
        (language == Language::Python)
            .then_some(self.python_wheels.as_deref())
            .flatten()
    }

    /// The installer's argv, run by `interpreter` inside the install sandbox.
    pub(super) fn installer_argv(
        &self,
        language: Language,
        interpreter: &Path,
        packages: &[String],
        at: &InstallPaths,
    ) -> Vec<String> {
        let proxy = format!("http://127.0.0.1:{}", at.proxy_port);
        let (set, downloads) = (at.set.display(), at.downloads.display());
        let mut argv: Vec<String> = match language {
            Language::Python => {
                let mut argv = strings(&["python3"]);
                argv.extend(strings(PIP_INSTALL));
                argv.extend(strings(&[
                    "--no-warn-script-location",
                    "--progress-bar",
                    "off",
                    "--timeout",
                    "30",
                    "--retries",
                    "2",
                ]));
                argv.extend(["--target".into(), format!("{set}/python")]);
                argv.extend(["--cache-dir".into(), format!("{downloads}/pip")]);
                argv.extend(["--proxy".into(), proxy]);
                match &self.python_index {
                    Some(url) => argv.extend(["--index-url".into(), url.to_string()]),
                    None => argv.push("--no-index".into()),
                }
                if let Some(wheels) = &at.wheels {
                    argv.extend(["--find-links".into(), wheels.display().to_string()]);
                }
                if Path::new(CA_BUNDLE).exists() {
                    argv.extend(["--cert".into(), CA_BUNDLE.into()]);
                }
                argv
            }
            _ => {
                let mut argv = vec!["node".into(), npm_cli(interpreter)];
                argv.extend(strings(NPM_INSTALL));
                argv.extend(strings(&[
                    "--no-package-lock",
                    "--no-update-notifier",
                    // Only our settings: the home is empty, the host's npmrc ignored.
                    "--globalconfig",
                    "/nonexistent/npmrc",
                    "--fetch-retries",
                    "1",
                    "--fetch-retry-mintimeout",
                    "2000",
                    "--fetch-retry-maxtimeout",
                    "10000",
                ]));
                argv.extend(["--prefix".into(), format!("{set}/node")]);
                argv.extend(["--cache".into(), format!("{downloads}/npm")]);
                argv.extend(["--registry".into(), self.npm_registry.to_string()]);
                argv.extend([
                    "--proxy".into(),
                    proxy.clone(),
                    "--https-proxy".into(),
                    proxy,
                ]);
                argv
            }
        };
        argv.push("--".into());
        argv.extend(packages.iter().cloned());
        argv
    }

    /// The installer's environment beyond the sandbox's usual one.
    pub(super) fn installer_env(&self, proxy_port: u16) -> Vec<(String, String)> {
        let proxy = format!("http://127.0.0.1:{proxy_port}");
        let mut env: Vec<(String, String)> =
            ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"]
                .iter()
                .map(|k| (k.to_string(), proxy.clone()))
                .collect();
        // pip must not read configuration files that are not ours.
        env.push(("PIP_CONFIG_FILE".into(), "/dev/null".into()));
        env.push(("NO_UPDATE_NOTIFIER".into(), "1".into()));
        if Path::new(CA_BUNDLE).exists() {
            for key in ["SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS"] {
                env.push((key.into(), CA_BUNDLE.into()));
            }
        }
        env
    }
}

/// The environment that makes the package set the sandbox sees at `set`
/// importable by the code.
pub(super) fn run_env(language: Language, set: &Path) -> (&'static str, String) {
    let set = set.display();
    match language {
        Language::Python => ("PYTHONPATH", format!("{set}/python")),
        _ => ("NODE_PATH", format!("{set}/node/node_modules")),
    }
}

/// npm beside its node: `<prefix>/bin/node` → `<prefix>/lib/node_modules/npm/bin/npm-cli.js`.
fn npm_cli(node: &Path) -> String {
    let prefix = node
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("/usr"));
    prefix
        .join("lib/node_modules/npm/bin/npm-cli.js")
        .display()
        .to_string()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_public_registries() {
        let sources = Sources::new(&PackageConfig::default()).unwrap();
        assert_eq!(
            sources.allowed(Language::Python),
            vec![
                ("files.pythonhosted.org".into(), 443),
                ("pypi.org".into(), 443)
            ]
        );
        assert_eq!(
            sources.allowed(Language::Node),
            vec![("registry.npmjs.org".into(), 443)]
        );
    }

    #[test]
    fn a_wheel_folder_alone_means_offline() {
        let config = PackageConfig {
            python_wheel_dir: Some(std::env::temp_dir()),
            ..Default::default()
        };
        let sources = Sources::new(&config).unwrap();
        assert!(sources.allowed(Language::Python).is_empty());
        let at = InstallPaths {
            set: PACKAGES_DIR.into(),
            downloads: DOWNLOADS_DIR.into(),
            wheels: Some(WHEELS_DIR.into()),
            proxy_port: 3128,
        };
        let argv = sources.installer_argv(
            Language::Python,
            Path::new("/usr/bin/python3"),
            &["six".into()],
            &at,
        );
        assert!(argv.contains(&"--no-index".to_string()));
        assert!(argv.windows(2).any(|w| w == ["--find-links", WHEELS_DIR]));
        assert_eq!(
            argv[argv.len() - 2..],
            ["--".to_string(), "six".to_string()]
        );
    }

    #[test]
    fn rejects_bad_sources() {
        for config in [
            PackageConfig {
                python_index_url: Some("file:///etc".into()),
                ..Default::default()
            },
            PackageConfig {
                npm_registry: Some("not a url".into()),
                ..Default::default()
            },
            PackageConfig {
                python_wheel_dir: Some("relative".into()),
                ..Default::default()
            },
            PackageConfig {
                allow_hosts: vec!["evil/path".into()],
                ..Default::default()
            },
            PackageConfig {
                allow_hosts: vec!["user@host".into()],
                ..Default::default()
            },
        ] {
            assert!(
                matches!(Sources::new(&config), Err(Error::InvalidArg(_))),
                "{config:?}"
            );
        }
    }
}
