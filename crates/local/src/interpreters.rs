//! Finding the real interpreter binaries on the host. A shim such as pyenv's
//! `python3` is a shell script that would need its whole world in the sandbox
//! (and costs ~80 ms): only ELF executables are accepted.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use e2b_native_core::{Error, Language};

/// Directories every sandbox already shows read-only.
const SYSTEM_PREFIXES: &[&str] = &["/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/"];

#[derive(Debug, Clone)]
pub struct Interpreter {
    /// The real binary, symlinks resolved.
    pub path: PathBuf,
    /// Its install prefix when it lives outside the system directories
    /// (`/opt/node` for `/opt/node/bin/node`): bound read-only into the sandbox.
    pub extra_bind: Option<PathBuf>,
    /// Python: packages it sees on `PYTHONPATH` (the data-science
    /// environment), bound read-only at the same path.
    pub python_path: Option<PathBuf>,
}

/// Finds `language`'s interpreter: an explicit path, else Node's own binary for
/// node, else the first ELF executable on PATH or in the usual places.
pub(crate) fn find(language: Language, explicit: Option<&Path>) -> Result<Interpreter, Error> {
    let candidates: Vec<PathBuf> = match explicit {
        Some(path) => vec![path.to_path_buf()],
        None => {
            let names: &[&str] = match language {
                Language::Python => &["python3"],
                Language::Node => &["node", "nodejs"],
                Language::Bash => &["bash"],
            };
            let mut found = Vec::new();
            if language == Language::Node {
                // The Node running this addon is the best guess for node.
                if let Ok(exe) = std::env::current_exe() {
                    if exe
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("node"))
                    {
                        found.push(exe);
                    }
                }
            }
            let path_var = std::env::var_os("PATH").unwrap_or_default();
            let dirs = std::env::split_paths(&path_var)
                .chain(["/usr/local/bin", "/usr/bin", "/bin"].map(PathBuf::from));
            for dir in dirs {
                found.extend(names.iter().map(|n| dir.join(n)));
            }
            found
        }
    };
    candidates
        .iter()
        .filter_map(|c| c.canonicalize().ok())
        .find(|c| is_elf_executable(c))
        .map(|path| {
            let extra_bind = (!SYSTEM_PREFIXES.iter().any(|p| path.starts_with(p)))
                .then(|| install_prefix(&path));
            Interpreter {
                path,
                extra_bind,
                python_path: None,
            }
        })
        .ok_or_else(|| {
            Error::InterpreterUnavailable(format!(
                "no {language} interpreter found{}: install it (a real binary, not a shim such as pyenv's), \
                 or pass its path in the constructor options (interpreters.{language})",
                explicit.map(|p| format!(" at {}", p.display())).unwrap_or_default()
            ))
        })
}

/// The environment every sandboxed program starts with, as in E2B's sandboxes:
/// the usual PATH (plus the directories of interpreters installed outside the
/// system ones), HOME, USER, LOGNAME, SHELL and LANG, and PYTHONPATH where
/// Python has the data-science environment. Nothing of the host's.
pub fn sandbox_env<'a>(
    interpreters: impl IntoIterator<Item = &'a Interpreter>,
) -> BTreeMap<String, String> {
    let mut path = String::from("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let mut python_path = None;
    for interpreter in interpreters {
        if let (Some(_), Some(dir)) = (&interpreter.extra_bind, interpreter.path.parent()) {
            path = format!("{}:{path}", dir.display());
        }
        python_path = python_path.or(interpreter.python_path.as_ref());
    }
    let mut env: BTreeMap<String, String> = [
        ("PATH", path.as_str()),
        ("HOME", e2b_native_core::WORK_DIR),
        ("USER", "user"),
        ("LOGNAME", "user"),
        ("SHELL", "/bin/bash"),
        ("LANG", "C.UTF-8"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if let Some(dir) = python_path {
        env.insert("PYTHONPATH".into(), dir.display().to_string());
    }
    env
}

fn is_elf_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    let executable = file
        .metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    let mut magic = [0u8; 4];
    executable && file.read_exact(&mut magic).is_ok() && &magic == b"\x7fELF"
}

/// `/opt/node` for `/opt/node/bin/node`; the binary's own directory otherwise.
fn install_prefix(binary: &Path) -> PathBuf {
    let dir = binary.parent().unwrap_or(Path::new("/"));
    match dir.file_name() {
        Some(name) if name == "bin" => dir.parent().unwrap_or(dir).to_path_buf(),
        _ => dir.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_real_binaries_for_every_language() {
        for language in Language::ALL {
            let found = find(language, None).unwrap();
            assert!(is_elf_executable(&found.path), "{language}: {found:?}");
        }
    }

    #[test]
    fn rejects_a_shell_script() {
        let dir = std::env::temp_dir().join(format!("e2b-interp-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let shim = dir.join("python3");
        std::fs::write(&shim, "#!/bin/sh\nexec python3 \"$@\"\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = find(Language::Python, Some(&shim)).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(err.code(), "ERR_INTERPRETER_UNAVAILABLE");
        assert!(err.to_string().contains("not a shim"));
    }

    #[test]
    fn install_prefix_strips_bin() {
        assert_eq!(
            install_prefix(Path::new("/opt/node/bin/node")),
            Path::new("/opt/node")
        );
        assert_eq!(
            install_prefix(Path::new("/opt/tools/node")),
            Path::new("/opt/tools")
        );
    }
}
