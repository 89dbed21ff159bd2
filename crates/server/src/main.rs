//! `e2b-native-serve`: the server without Node, for development of the
//! server itself (`cargo run -p e2b-native-server -- --port 3000`). Users
//! start it with `npx e2b-native serve`, which takes the same options.

use std::path::PathBuf;
use std::time::Duration;

use e2b_native_server::{LogLevel, ServerConfig};

const USAGE: &str = "usage: e2b-native-serve [--host ADDR] [--port N] [--api-key e2b_HEX]... \
[--max-sandboxes N] [--max-timeout SECONDS] [--log-level debug|info|warn|error|silent] \
[--debug-sandbox on|off] [--helper PATH]";

fn main() {
    let config = match parse(std::env::args().skip(1).collect()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("e2b-native-serve: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(async move {
        let server = match e2b_native_server::start(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("e2b-native-serve: {e}");
                std::process::exit(1);
            }
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

fn parse(args: Vec<String>) -> Result<ServerConfig, String> {
    let helper = std::env::var_os("E2B_NATIVE_SANDBOX_HELPER")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(|d| d.join("e2b-sandbox")))
        })
        .unwrap_or_else(|| PathBuf::from("e2b-sandbox"));
    let mut config = ServerConfig::new(helper);
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag} wants a number, got {v:?}"))
        };
        match flag.as_str() {
            "--host" => config.host = value()?.parse().map_err(|e| format!("--host: {e}"))?,
            "--port" => config.port = number(value()?)? as u16,
            "--api-key" => config.api_keys.push(value()?),
            "--max-sandboxes" => config.max_sandboxes = number(value()?)? as usize,
            "--max-timeout" => config.max_timeout = Duration::from_secs(number(value()?)?),
            "--log-level" => config.log_level = value()?.parse::<LogLevel>()?,
            "--debug-sandbox" => config.debug_sandbox = Some(value()? == "on"),
            "--helper" => config.helper = PathBuf::from(value()?),
            "-h" | "--help" => return Err("help".into()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(config)
}
