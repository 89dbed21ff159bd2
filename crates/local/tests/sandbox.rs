//! The local backend through its Rust API: real sandboxes, real interpreters.

use std::time::{Duration, Instant};

use e2b_native_core::{Language, Request};
use e2b_native_local::{CancellationToken, LocalBackend, LocalConfig};

fn backend() -> LocalBackend {
    LocalBackend::new(LocalConfig {
        helper: env!("CARGO_BIN_EXE_e2b-sandbox").into(),
        ..Default::default()
    })
    .expect("default settings")
}

async fn run(language: Language, code: &str) -> e2b_native_core::Outcome {
    backend()
        .execute(&Request::new(language, code), &CancellationToken::new())
        .await
        .unwrap()
}

#[tokio::test]
async fn python_runs_and_exits_cleanly() {
    let out = run(Language::Python, "print('hi')").await;
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str(), out.exit_code),
        ("hi\n", "", 0)
    );
    assert_eq!(out.error, None);
}

#[tokio::test]
async fn all_three_languages_report_real_exit_codes() {
    assert_eq!(
        run(Language::Python, "import sys; sys.exit(3)")
            .await
            .exit_code,
        3
    );
    assert_eq!(run(Language::Node, "process.exit(4)").await.exit_code, 4);
    assert_eq!(run(Language::Bash, "exit 5").await.exit_code, 5);
}

#[tokio::test]
async fn uncaught_errors_are_named() {
    let out = run(Language::Python, "1/0").await;
    assert_eq!(
        (out.exit_code, out.error.as_deref()),
        (1, Some("ZeroDivisionError"))
    );
    let out = run(Language::Node, "undefinedThing").await;
    assert_eq!(
        (out.exit_code, out.error.as_deref()),
        (1, Some("ReferenceError"))
    );
}

#[tokio::test]
async fn the_sandbox_user_and_root_are_its_own() {
    let out = run(
        Language::Bash,
        "id -u; id -un; pwd; echo $HOME; hostname; ls /; cat /etc/shadow 2>&1 | head -c 40; echo; ls /root 2>&1 | head -c 40",
    )
    .await;
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        &lines[..5],
        ["1000", "user", "/home/user", "/home/user", "sandbox"],
        "{out:?}"
    );
    assert!(!out.stdout.contains("shadow\n"), "{}", out.stdout);
    assert!(out.stdout.contains("No such file"), "{}", out.stdout);
}

#[tokio::test]
async fn a_timeout_kills_everything_promptly() {
    let mut req = Request::new(
        Language::Bash,
        "echo started; (trap '' TERM; setsid sleep 1000 &) ; sleep 1000",
    );
    req.timeout = Duration::from_millis(500);
    let t = Instant::now();
    let out = backend()
        .execute(&req, &CancellationToken::new())
        .await
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(out.exit_code, 124);
    assert!(out.timed_out);
    assert_eq!(out.error.as_deref(), Some("TimeoutError"));
    assert_eq!(out.stdout, "started\n");
}

/// A call whose future is dropped mid-run (a panic unwinding through it, an
/// aborted task) still takes every process of its sandbox with it.
#[tokio::test]
async fn a_dropped_call_kills_its_sandbox() {
    let marker = format!("sleep {}", 800_000 + std::process::id() % 99_999);
    let code = format!("{marker} & {marker}");
    let task = tokio::spawn(async move {
        backend()
            .execute(
                &Request::new(Language::Bash, code),
                &CancellationToken::new(),
            )
            .await
    });
    let running = || {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .contains(&marker)
                })
                .unwrap_or(false)
        })
    };
    let started = Instant::now();
    while !running() && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(running(), "the sandbox never started");
    task.abort();
    let _ = task.await;
    let gone = Instant::now();
    while running() && gone.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!running(), "processes outlived the dropped call");
}
