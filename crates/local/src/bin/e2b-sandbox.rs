//! The sandbox helper: builds one sandbox, runs one program in it, reports how
//! it ended. A separate, single-threaded executable because only a
//! single-threaded process may create a user namespace, and a multi-threaded
//! host (Node) must not fork and then do this much work.

fn main() {
    std::process::exit(e2b_native_local::sandbox::main());
}
