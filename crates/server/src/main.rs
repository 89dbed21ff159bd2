//! `e2b-native-serve`: the server without Node, for development of the
//! server itself (`cargo run -p e2b-native-server -- --port 3000`). Users
//! start it with `npx e2b-native serve`; both read the same flags (`cli`).

use std::path::PathBuf;

use e2b_native_core::options::Options;
use e2b_native_server::cli::{self, Command};
use e2b_native_server::ServerConfig;

const PROGRAM: &str = "e2b-native-serve";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env_key = std::env::var("E2B_NATIVE_SERVE_API_KEY").ok();
    let options = match cli::parse(&args, env_key.as_deref()) {
        Ok(Command::Serve(options)) => options,
        Ok(Command::Help) => {
            print!("{}", cli::usage(PROGRAM));
            return;
        }
        Err(e) => fail(&e, 2),
    };
    let config = Options::new(&options, PROGRAM)
        .and_then(|o| ServerConfig::read(&o, helper()))
        .unwrap_or_else(|e| fail(&e.to_string(), 2));
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(async move {
        let server = match e2b_native_server::start(config).await {
            Ok(s) => s,
            Err(e) => fail(&e.to_string(), 1),
        };
        println!("e2b-native serve listening on {}", server.url());
        println!(
            "  E2B_API_URL={} E2B_SANDBOX_URL={} E2B_API_KEY={}",
            server.url(),
            server.url(),
            server.api_keys()[0]
        );
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        server.close().await;
    });
}

/// `E2B_NATIVE_SANDBOX_HELPER`, else the helper beside this binary (or its
/// copy that `e2b-native apparmor` installed).
fn helper() -> PathBuf {
    std::env::var_os("E2B_NATIVE_SANDBOX_HELPER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let beside = std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(|d| d.join("e2b-sandbox")))
                .unwrap_or_else(|| PathBuf::from("e2b-sandbox"));
            e2b_native_local::apparmor::preferred_helper(beside)
        })
}

fn fail(message: &str, status: i32) -> ! {
    eprintln!("{PROGRAM}: {message}\n\n{}", cli::usage(PROGRAM));
    std::process::exit(status)
}
