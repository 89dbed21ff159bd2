//! What to change where the full tier is refused: the environment this
//! process runs in, detected from what it can read, and the exact change for
//! the step that failed and the errno the kernel gave.

use std::path::Path;

/// Where this process runs, as far as the sandbox is concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Environment {
    pub container: Option<Container>,
    /// AWS Lambda, and Vercel's functions, which run on it.
    pub serverless: Option<&'static str>,
    pub github_actions: bool,
    /// Ubuntu 23.10+: `kernel.apparmor_restrict_unprivileged_userns`.
    pub apparmor_restricts_userns: bool,
    /// Debian's `kernel.unprivileged_userns_clone`, where it exists.
    pub unprivileged_userns_clone: Option<bool>,
    /// `user.max_user_namespaces`.
    pub max_user_namespaces: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Container {
    Docker,
    Kubernetes,
    Podman,
    /// Seccomp-filtered with a masked /proc: a container of some runtime.
    Other,
}

impl Environment {
    /// This process's environment, detected once.
    pub(crate) fn here() -> &'static Environment {
        static HERE: std::sync::OnceLock<Environment> = std::sync::OnceLock::new();
        HERE.get_or_init(Environment::detect)
    }

    pub(crate) fn detect() -> Environment {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let sysctl = |path: &str| read(path).and_then(|v| v.trim().parse::<u64>().ok());
        let env = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        let container = if env("KUBERNETES_SERVICE_HOST")
            || Path::new("/var/run/secrets/kubernetes.io").exists()
        {
            Some(Container::Kubernetes)
        } else if Path::new("/.dockerenv").exists() {
            Some(Container::Docker)
        } else if Path::new("/run/.containerenv").exists() {
            Some(Container::Podman)
        } else if filtered_with_masked_proc() {
            Some(Container::Other)
        } else {
            None
        };
        Environment {
            container,
            serverless: if env("VERCEL") {
                Some("Vercel Functions")
            } else if env("AWS_LAMBDA_FUNCTION_NAME") {
                Some("AWS Lambda")
            } else {
                None
            },
            github_actions: env("GITHUB_ACTIONS"),
            apparmor_restricts_userns: sysctl(
                "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
            ) == Some(1),
            unprivileged_userns_clone: sysctl("/proc/sys/kernel/unprivileged_userns_clone")
                .map(|v| v == 1),
            max_user_namespaces: sysctl("/proc/sys/user/max_user_namespaces"),
        }
    }

    /// The environment, as a message names it.
    pub(crate) fn name(&self) -> &'static str {
        if let Some(name) = self.serverless {
            return name;
        }
        match self.container {
            Some(Container::Docker) => "a Docker container",
            Some(Container::Kubernetes) => "a Kubernetes pod",
            Some(Container::Podman) => "a Podman container",
            Some(Container::Other) => "a container (seccomp-filtered, /proc masked)",
            None if self.github_actions => "a GitHub Actions runner",
            None => "this host",
        }
    }
}

/// This process runs under a seccomp filter and sees a masked /proc (a
/// bind of /dev/null over /proc/kcore): what container runtimes set up.
fn filtered_with_masked_proc() -> bool {
    use std::os::unix::fs::FileTypeExt;
    let seccomp = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Seccomp:") && l.trim_end().ends_with('2'))
    });
    let masked = std::fs::metadata("/proc/kcore").is_ok_and(|m| m.file_type().is_char_device());
    seccomp && masked
}

/// What to change so that the namespace tier works, for the set-up step
/// `layer` that failed with `errno` in `env`.
pub(crate) fn advise(env: &Environment, layer: &str, errno: Option<i32>) -> String {
    if let Some(name) = env.serverless {
        return format!(
            "{name} allows no sandbox of any kind: use the e2b backend (set E2B_API_KEY), or run \
             `npx e2b-native serve` on a Linux VM or container and point E2B_API_URL and \
             E2B_SANDBOX_URL at it"
        );
    }
    let proc_mount = layer == "pid namespace";
    let apparmor_mount = layer == "mount namespace" && errno == Some(libc::EACCES);
    match env.container {
        Some(Container::Kubernetes) => format!(
            "in {}, set the container's securityContext to `seccompProfile: {{type: Unconfined}}`{}{} \
             for the namespace tier",
            env.name(),
            if proc_mount { " and `procMount: Unmasked` (with `hostUsers: false`)" } else { "" },
            if apparmor_mount { " and `appArmorProfile: {type: Unconfined}`" } else { "" },
        ),
        Some(_) => {
            let mut flags = Vec::new();
            if !proc_mount && !apparmor_mount {
                flags.push("--security-opt seccomp=unconfined");
            }
            flags.push("--security-opt systempaths=unconfined");
            if apparmor_mount {
                flags.push("--security-opt apparmor=unconfined");
            }
            format!(
                "in {}, run it with `{}` (Kubernetes: securityContext `seccompProfile: \
                 {{type: Unconfined}}` and `procMount: Unmasked`) for the namespace tier",
                env.name(),
                flags.join(" ")
            )
        }
        None => host_advice(env, errno),
    }
}

/// A host (no container): which sysctl or AppArmor rule refuses user namespaces.
fn host_advice(env: &Environment, errno: Option<i32>) -> String {
    if errno == Some(libc::ENOSPC) || env.max_user_namespaces == Some(0) {
        return "user namespaces are disabled (user.max_user_namespaces = 0, as RHEL hardening \
                and Bottlerocket set it): `sudo sysctl -w user.max_user_namespaces=15000`"
            .into();
    }
    if env.apparmor_restricts_userns {
        let runner = if env.github_actions {
            " On GitHub's ubuntu-24.04 runners, add a step before the tests: `sudo sysctl -w \
             kernel.apparmor_restrict_unprivileged_userns=0`."
        } else {
            ""
        };
        return format!(
            "Ubuntu's AppArmor restricts unprivileged user namespaces \
             (kernel.apparmor_restrict_unprivileged_userns = 1): let the sandbox helper create \
             them with `sudo npx e2b-native apparmor` (it installs the helper at a root-owned path \
             with an AppArmor profile that allows `userns`), or lift the restriction for every \
             program with `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`.{runner}"
        );
    }
    if env.unprivileged_userns_clone == Some(false) {
        return "this kernel refuses unprivileged user namespaces \
                (kernel.unprivileged_userns_clone = 0): `sudo sysctl -w \
                kernel.unprivileged_userns_clone=1`"
            .into();
    }
    "user namespaces are refused here: check `sysctl user.max_user_namespaces` (must be > 0), \
     `kernel.unprivileged_userns_clone` (Debian: 1) and \
     `kernel.apparmor_restrict_unprivileged_userns` (Ubuntu: 0)"
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(container: Option<Container>) -> Environment {
        Environment {
            container,
            ..Environment::default()
        }
    }

    #[test]
    fn docker_gets_its_flags_for_the_step_that_failed() {
        let docker = env(Some(Container::Docker));
        let clone = advise(&docker, "user namespace", Some(libc::EPERM));
        assert!(clone.contains("a Docker container"), "{clone}");
        assert!(clone
            .contains("--security-opt seccomp=unconfined --security-opt systempaths=unconfined"));
        let proc = advise(&docker, "pid namespace", Some(libc::EPERM));
        assert!(
            proc.contains("`--security-opt systempaths=unconfined`"),
            "{proc}"
        );
        assert!(!proc.contains("seccomp=unconfined`"), "{proc}");
        let apparmor = advise(&docker, "mount namespace", Some(libc::EACCES));
        assert!(
            apparmor.contains("--security-opt apparmor=unconfined"),
            "{apparmor}"
        );
    }

    #[test]
    fn kubernetes_gets_security_context_fields() {
        let pod = env(Some(Container::Kubernetes));
        let text = advise(&pod, "pid namespace", Some(libc::EPERM));
        assert!(text.contains("a Kubernetes pod"));
        assert!(text.contains("seccompProfile: {type: Unconfined}"));
        assert!(text.contains("procMount: Unmasked"));
    }

    #[test]
    fn hosts_get_the_sysctl_that_refuses_and_ubuntu_the_apparmor_profile() {
        let rhel = Environment {
            max_user_namespaces: Some(0),
            ..Environment::default()
        };
        assert!(advise(&rhel, "user namespace", Some(libc::ENOSPC))
            .contains("user.max_user_namespaces=15000"));
        let debian = Environment {
            unprivileged_userns_clone: Some(false),
            ..Environment::default()
        };
        assert!(advise(&debian, "user namespace", Some(libc::EPERM))
            .contains("kernel.unprivileged_userns_clone=1"));
        let ubuntu = Environment {
            apparmor_restricts_userns: true,
            github_actions: true,
            ..Environment::default()
        };
        let text = advise(&ubuntu, "user namespace", Some(libc::EPERM));
        assert!(text.contains("sudo npx e2b-native apparmor"), "{text}");
        assert!(text.contains("ubuntu-24.04 runners"), "{text}");
        // ENOSPC says the namespace count, whatever else is set.
        assert!(
            advise(&ubuntu, "user namespace", Some(libc::ENOSPC)).contains("max_user_namespaces")
        );
    }

    #[test]
    fn serverless_gets_the_e2b_backend() {
        let lambda = Environment {
            serverless: Some("AWS Lambda"),
            container: Some(Container::Other),
            ..Environment::default()
        };
        let text = advise(&lambda, "user namespace", Some(libc::EPERM));
        assert!(text.starts_with("AWS Lambda allows no sandbox"), "{text}");
        assert!(text.contains("E2B_API_KEY"));
    }
}
