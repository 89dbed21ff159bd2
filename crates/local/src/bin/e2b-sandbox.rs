//! The sandbox helper: builds one sandbox, runs one program in it, reports how
//! it ended. A separate, single-threaded executable because only a
//! single-threaded process may create a user namespace, and a multi-threaded
//! host (Node) must not fork and then do this much work.

fn main() {
    // The release check reads the seccomp filters of each architecture's build.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "--seccomp-table")
    {
        std::process::exit(e2b_native_local::sandbox::print_seccomp_table());
    }
    std::process::exit(e2b_native_local::sandbox::main());
}
