//! Files passed into and read out of a sandbox's work dir (`/home/user`).
//! Paths are checked here, before anything runs: relative to the work dir, or
//! absolute beneath it, and never leaving it.

use crate::Error;

pub const WORK_DIR: &str = "/home/user";

/// A file written into the work dir before the code runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIn {
    /// Relative to the work dir, normalised (`data/a.csv`).
    pub path: String,
    pub content: Vec<u8>,
}

/// Normalises `path` to a path relative to the work dir, or says why not.
pub fn work_dir_path(path: &str) -> Result<String, Error> {
    let bad = |why: &str| Error::invalid_arg(format!("file path {path:?} {why}"));
    if path.contains('\0') {
        return Err(bad("contains a NUL byte"));
    }
    let relative = match path.strip_prefix('/') {
        Some(_) => path
            .strip_prefix(WORK_DIR)
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
            .ok_or_else(|| bad(&format!("is outside the work dir {WORK_DIR}")))?,
        None => path,
    };
    let mut parts = Vec::new();
    for part in relative.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(bad("leaves the work dir (`..`)")),
            name => parts.push(name),
        }
    }
    if parts.is_empty() {
        return Err(bad("names no file"));
    }
    Ok(parts.join("/"))
}

/// Checks that `files` can all be written: no path twice, and none that is
/// both a file and the directory of another (`a` and `a/b`).
pub fn check_files(files: &[FileIn]) -> Result<(), Error> {
    let mut paths = std::collections::HashSet::new();
    for file in files {
        if !paths.insert(file.path.as_str()) {
            return Err(Error::invalid_arg(format!(
                "files: {:?} is given twice",
                file.path
            )));
        }
    }
    for path in &paths {
        let mut dirs = path.match_indices('/').map(|(i, _)| &path[..i]);
        if let Some(dir) = dirs.find(|dir| paths.contains(dir)) {
            return Err(Error::invalid_arg(format!(
                "files: {dir:?} cannot be both a file and the directory of {path:?}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_inside_the_work_dir_are_normalised() {
        assert_eq!(work_dir_path("a.txt").unwrap(), "a.txt");
        assert_eq!(work_dir_path("./data//b.csv").unwrap(), "data/b.csv");
        assert_eq!(work_dir_path("/home/user/x/y").unwrap(), "x/y");
    }

    #[test]
    fn a_file_cannot_also_be_a_directory_or_come_twice() {
        let files = |paths: &[&str]| -> Vec<FileIn> {
            paths
                .iter()
                .map(|p| FileIn {
                    path: p.to_string(),
                    content: vec![],
                })
                .collect()
        };
        assert!(check_files(&files(&["a", "b/c", "b/d", "ab/c"])).is_ok());
        for bad in [&["a", "a/b"][..], &["x/a/b/c", "x/a"], &["a", "a"]] {
            assert_eq!(
                check_files(&files(bad)).unwrap_err().code(),
                "ERR_INVALID_ARG"
            );
        }
    }

    #[test]
    fn paths_that_leave_it_are_rejected() {
        for bad in [
            "../etc/passwd",
            "a/../../b",
            "/etc/passwd",
            "/home/userx/a",
            "/home/user",
            "",
            ".",
            "a\0b",
            "/tmp/x",
        ] {
            assert_eq!(
                work_dir_path(bad).unwrap_err().code(),
                "ERR_INVALID_ARG",
                "{bad:?}"
            );
        }
    }
}
