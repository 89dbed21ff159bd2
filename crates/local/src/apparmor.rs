//! Ubuntu 23.10+ (and GitHub's ubuntu-24.04 runners) let a program create
//! user namespaces only if an AppArmor profile grants it `userns`. A profile
//! names its program by path, and that path must be root-owned, or any user
//! could swap the binary: so `e2b-native apparmor` copies the helper to
//! [`INSTALLED_HELPER`] and writes a profile for that path, and the backend
//! prefers that copy while it is byte-for-byte the helper of this package.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where `e2b-native apparmor` installs the helper.
pub const INSTALLED_HELPER: &str = "/usr/local/lib/e2b-native/e2b-sandbox";
/// The profile it writes.
pub const PROFILE_PATH: &str = "/etc/apparmor.d/e2b-native-sandbox";

/// The profile: the helper stays unconfined and may create user namespaces,
/// as Ubuntu's own profiles for browsers and container tools do.
pub fn profile() -> String {
    format!(
        "# Written by `e2b-native apparmor`: lets the e2b-native sandbox helper\n\
         # create user namespaces under kernel.apparmor_restrict_unprivileged_userns.\n\
         abi <abi/4.0>,\n\
         include <tunables/global>\n\n\
         profile e2b-native-sandbox {INSTALLED_HELPER} flags=(unconfined) {{\n  \
         userns,\n  \
         include if exists <local/e2b-native-sandbox>\n\
         }}\n"
    )
}

/// The installed helper if it is this package's (same bytes) and only root
/// can change it; else `bundled`.
pub fn preferred_helper(bundled: PathBuf) -> PathBuf {
    let installed = Path::new(INSTALLED_HELPER);
    if trusted_copy(installed, &bundled) {
        installed.to_path_buf()
    } else {
        bundled
    }
}

fn trusted_copy(installed: &Path, bundled: &Path) -> bool {
    let root_only =
        |path: &Path| fs::metadata(path).is_ok_and(|m| m.uid() == 0 && m.mode() & 0o022 == 0);
    let parent = installed.parent().unwrap_or(Path::new("/"));
    root_only(installed)
        && root_only(parent)
        && match (fs::read(installed), fs::read(bundled)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
}

/// What [`install`] did, for the command to print.
#[derive(Debug)]
pub struct Installed {
    pub helper: PathBuf,
    pub profile: PathBuf,
    /// `None`: AppArmor is not active on this kernel, so the profile is only written.
    pub loaded: Option<bool>,
}

/// Copies `bundled` to [`INSTALLED_HELPER`] (root-owned, 0755), writes
/// [`PROFILE_PATH`] and loads it with `apparmor_parser` when AppArmor is active.
pub fn install(bundled: &Path) -> Result<Installed, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(
            "installing an AppArmor profile needs root: run `sudo npx e2b-native apparmor`".into(),
        );
    }
    let helper = Path::new(INSTALLED_HELPER);
    let dir = helper.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod {}: {e}", dir.display()))?;
    let staged = dir.join(".e2b-sandbox.new");
    fs::copy(bundled, &staged)
        .map_err(|e| format!("copying {} to {}: {e}", bundled.display(), staged.display()))?;
    fs::set_permissions(&staged, fs::Permissions::from_mode(0o755))
        .and_then(|()| fs::rename(&staged, helper))
        .map_err(|e| format!("installing {}: {e}", helper.display()))?;
    write_profile(Path::new(PROFILE_PATH))?;
    let loaded = Path::new("/sys/kernel/security/apparmor")
        .exists()
        .then(load_profile)
        .transpose()?;
    Ok(Installed {
        helper: helper.to_path_buf(),
        profile: PROFILE_PATH.into(),
        loaded,
    })
}

fn write_profile(path: &Path) -> Result<(), String> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    fs::File::create(path)
        .and_then(|mut f| f.write_all(profile().as_bytes()))
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

fn load_profile() -> Result<bool, String> {
    let status = Command::new("apparmor_parser")
        .args(["-r", "-W", PROFILE_PATH])
        .status()
        .map_err(|e| {
            format!("running apparmor_parser: {e} (install the apparmor package, then `sudo apparmor_parser -r {PROFILE_PATH}`)")
        })?;
    if status.success() {
        Ok(true)
    } else {
        Err(format!(
            "apparmor_parser -r {PROFILE_PATH} failed ({status})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_grants_userns_to_the_installed_path_only() {
        let text = profile();
        assert!(text.contains(&format!("profile e2b-native-sandbox {INSTALLED_HELPER} ")));
        assert!(text.contains("  userns,\n"));
        assert!(text.starts_with("# Written by"));
    }

    #[test]
    fn a_copy_is_trusted_only_when_identical_and_root_only() {
        let dir = std::env::temp_dir().join(format!("e2b-apparmor-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let (installed, bundled) = (dir.join("installed"), dir.join("bundled"));
        fs::write(&bundled, b"helper v1").unwrap();
        fs::write(&installed, b"helper v1").unwrap();
        fs::set_permissions(&installed, fs::Permissions::from_mode(0o755)).unwrap();
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        assert_eq!(
            trusted_copy(&installed, &bundled),
            root,
            "identical, 0755, owned by this uid"
        );
        fs::set_permissions(&installed, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(!trusted_copy(&installed, &bundled), "world-writable");
        fs::set_permissions(&installed, fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(&bundled, b"helper v2").unwrap();
        assert!(!trusted_copy(&installed, &bundled), "another version");
        fs::remove_dir_all(&dir).unwrap();
    }
}
