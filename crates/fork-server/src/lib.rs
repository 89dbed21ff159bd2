//! The sandbox helper as a C library, loaded once by the Python fork server
//! (`crates/local/src/fork_server`). Each process the server forks calls
//! [`e2b_fork_server_helper`] with the helper's descriptors in place and
//! becomes that sandbox's helper, with the code `e2b-sandbox` runs: the same
//! namespaces or tier, uid, cgroups, limits, Landlock and seccomp. Only its
//! program differs: it returns into the interpreter (through `program`)
//! instead of exec'ing a new one.

/// Runs the helper's main in the calling process (single-threaded, fd 0 the
/// socket to the host, 1 and 2 the program's output); returns its exit
/// status. In the sandbox's program process it calls `program` instead.
#[cfg(target_os = "linux")]
#[no_mangle]
pub extern "C" fn e2b_fork_server_helper(program: e2b_native_local::sandbox::ForkedProgram) -> i32 {
    e2b_native_local::sandbox::main_forked(program)
}
