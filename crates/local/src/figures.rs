//! Rich results of one-shot Python calls: where the data-science
//! environment gives matplotlib, `plt.show()` goes through the kernels'
//! figure backend (`e2b_native_kernels::figures`), kept beside the
//! environment's packages and named by a matplotlibrc in the work dir (no
//! variable of the run changes); it appends each figure to a file in the
//! work dir, read back as the call's `readFiles` are (cold and warm
//! sandboxes alike), which becomes the outcome's `results`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use e2b_native_core::{FileIn, Language, Outcome, Request};
use e2b_native_kernels::figures::{self, MATPLOTLIBRC, MODULE, MODULE_NAME, RESULTS};

use crate::Interpreter;

/// Where matplotlib looks for its settings (`MPLCONFIGDIR` unset), relative
/// to the work dir (HOME).
const RC_PATH: &str = ".config/matplotlib/matplotlibrc";

/// `request` with its figures collected, when it is Python with the
/// data-science environment (and the backend module could be put there);
/// `None` otherwise. A call that sets `MPLBACKEND` or `MPLCONFIGDIR` keeps
/// its backend, and a matplotlibrc among its files comes after this one.
pub(crate) fn enable(interpreter: &Interpreter, request: &Request) -> Option<Request> {
    let env = &request.env;
    if request.language != Language::Python
        || env.contains_key("MPLBACKEND")
        || env.contains_key("MPLCONFIGDIR")
    {
        return None;
    }
    if !module_in(interpreter.python_path.as_deref()?) {
        return None;
    }
    let mut request = request.clone();
    let rc = FileIn {
        path: RC_PATH.into(),
        content: MATPLOTLIBRC.into(),
    };
    request.files.insert(0, rc);
    request.read_files.push(RESULTS.into());
    Some(request)
}

/// Moves the figures' file from the outcome's files to its results.
pub(crate) fn take(outcome: &mut Outcome) {
    if let Some(at) = outcome.files.iter().position(|(path, _)| path == RESULTS) {
        let (_, lines) = outcome.files.remove(at);
        outcome.results = figures::results(&lines);
    }
}

/// Whether the backend module is in `dir` (the environment's packages,
/// shown read-only to sandboxes): written there once, atomically.
fn module_in(dir: &Path) -> bool {
    static READY: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    let ready = READY.get_or_init(Mutex::default);
    let mut ready = ready.lock().unwrap_or_else(|p| p.into_inner());
    if ready.contains(dir) {
        return true;
    }
    let path = dir.join(format!("{MODULE_NAME}.py"));
    let present = std::fs::read_to_string(&path).is_ok_and(|s| s == MODULE) || {
        let temp = dir.join(format!(".{MODULE_NAME}.{}.tmp", std::process::id()));
        std::fs::write(&temp, MODULE).is_ok() && std::fs::rename(&temp, &path).is_ok()
    };
    if present {
        ready.insert(dir.to_path_buf());
    }
    present
}
