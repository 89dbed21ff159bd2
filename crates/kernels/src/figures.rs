//! Figures of one-shot Python runs: `plt.show()` in a plain `python3 -c`
//! program (no kernel) goes through a matplotlib backend module
//! ([`MODULE`], named by [`MATPLOTLIBRC`]) that writes each figure as a kernel `display` reply to a
//! file; [`results`] decodes that file into the same [`ExecutionResult`]s
//! sessions and `serve` give.

use crate::{Event, ExecutionResult, Reply};

/// The backend module's source, for a file named [`MODULE_NAME`]`.py`.
pub const MODULE: &str = include_str!("programs/figures.py");
/// Its import name: `MPLBACKEND=module://e2b_native_figures`.
pub const MODULE_NAME: &str = "e2b_native_figures";
/// The file it appends its lines to, relative to the work dir (HOME).
pub const RESULTS: &str = ".e2b-native-figures.jsonl";
/// A matplotlibrc (for `~/.config/matplotlib/`) that makes it the backend.
pub const MATPLOTLIBRC: &str = "backend: module://e2b_native_figures\n";

/// The results of the lines the module wrote; lines that are not display
/// replies (a torn last line) are skipped.
pub fn results(lines: &[u8]) -> Vec<ExecutionResult> {
    lines
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .filter_map(|line| match Reply::parse(line).ok()?.into_event()? {
            Event::Result(result) => Some(*result),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lines_become_results_and_the_rest_is_skipped() {
        let lines = b"{\"type\":\"display\",\"main\":false,\"bundle\":{\"text/plain\":\"<Figure>\",\"image/png\":\"iVBO\",\"e2b/chart\":{\"type\":\"line\"}}}\n\
                      {\"type\":\"done\"}\n{\"type\":\"disp";
        let found = results(lines);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].png.as_deref(), Some("iVBO"));
        assert_eq!(found[0].chart.as_ref().unwrap()["type"], "line");
        assert!(!found[0].is_main_result);
    }
}
