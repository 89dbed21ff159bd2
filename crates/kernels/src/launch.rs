//! How each kernel starts: its argv (the interpreter and the embedded
//! program), its environment, and what to write to its fd 3 first.

use crate::KernelKind;

pub const PYTHON_KERNEL: &str = include_str!("programs/python.py");
pub const JAVASCRIPT_KERNEL: &str = include_str!("programs/javascript.js");
pub const BASH_KERNEL: &str = include_str!("programs/bash.sh");

/// Starts the interactive bash that runs the cells, reading its commands
/// from the request pipe (fd 3) as its stdin; its job-control warnings
/// about a missing terminal and its first prompt go nowhere (the kernel
/// restores stderr).
const BASH_LAUNCHER: &str =
    "exec 5>&2 2>/dev/null; exec bash --noprofile --norc --noediting +m -i <&3 3<&-";

/// A kernel process to start, in the context's cwd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub argv: Vec<String>,
    /// Added to the sandbox's environment (Python: the data-science
    /// environment on PYTHONPATH).
    pub env: Vec<(String, String)>,
    /// Written to the kernel's fd 3 before any request (bash: the kernel itself).
    pub preamble: &'static str,
}

impl KernelKind {
    /// The kernel run by `interpreter` (a path or a name on PATH), with
    /// `flags` for the interpreter (such as Node's heap size). A Python
    /// kernel finds the data-science environment (`requirements.txt`
    /// installed with `pip install --target`) through PYTHONPATH only;
    /// without it, it runs in its basic mode.
    pub fn launch(self, interpreter: &str, flags: &[String], data_science: Option<&str>) -> Launch {
        let mut argv = vec![interpreter.to_string()];
        argv.extend(flags.iter().cloned());
        let (program, preamble): (&[&str], _) = match self {
            KernelKind::Python => (&["-c", PYTHON_KERNEL], ""),
            KernelKind::JavaScript => (&["-e", JAVASCRIPT_KERNEL], ""),
            KernelKind::Bash => (&["--noprofile", "--norc", "-c", BASH_LAUNCHER], BASH_KERNEL),
        };
        argv.extend(program.iter().map(|s| s.to_string()));
        let env = match (self, data_science) {
            (KernelKind::Python, Some(dir)) => vec![("PYTHONPATH".to_string(), dir.to_string())],
            _ => Vec::new(),
        };
        Launch {
            argv,
            env,
            preamble,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kernel_runs_its_embedded_program() {
        let python = KernelKind::Python.launch("/usr/bin/python3", &[], None);
        assert_eq!(python.argv, ["/usr/bin/python3", "-c", PYTHON_KERNEL]);
        assert!(python.preamble.is_empty() && python.env.is_empty());
        let python = KernelKind::Python.launch("python3", &[], Some("/opt/ds"));
        let pythonpath = ("PYTHONPATH".to_string(), "/opt/ds".to_string());
        assert_eq!(python.env, [pythonpath]);
        let flags = ["--max-old-space-size=384".to_string()];
        let node = KernelKind::JavaScript.launch("node", &flags, Some("/opt/ds"));
        let argv = ["node", "--max-old-space-size=384", "-e", JAVASCRIPT_KERNEL];
        assert_eq!(node.argv, argv);
        assert!(node.env.is_empty());
        let bash = KernelKind::Bash.launch("bash", &[], None);
        assert_eq!(bash.argv[..4], ["bash", "--noprofile", "--norc", "-c"]);
        assert_eq!(bash.preamble, BASH_KERNEL);
    }
}
