//! The session rules every backend shares, on a fake backend whose runs
//! last as long as they are told (`sleep N`) and stop when interrupted.

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;

use super::*;

#[derive(Default)]
struct Fake {
    closed: Arc<AtomicBool>,
}

impl CodeSession for Fake {
    fn id(&self) -> &str {
        "fake"
    }

    fn isolation(&self) -> &'static str {
        "namespaces"
    }

    fn run<'a>(
        &'a self,
        run: Run,
        stop: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Ran, Error>> {
        Box::pin(async move {
            let mut ran = Ran::default();
            ran.execution
                .take(Event::output(true, format!("{}\n", run.code)));
            let seconds: u64 = run
                .code
                .strip_prefix("sleep ")
                .and_then(|s| s.split_whitespace().next())
                .map_or(0, |s| s.parse().unwrap());
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(seconds)) => {}
                _ = stop.cancelled() => {
                    // A "stubborn" run stands for code that ignores interrupts.
                    ran.interrupted = Some(if run.code.contains("stubborn") {
                        Interrupted::KernelRestarted
                    } else {
                        Interrupted::Stopped
                    });
                    ran.execution.error = Some(ExecutionError {
                        name: "KeyboardInterrupt".into(),
                        value: String::new(),
                        traceback: String::new(),
                    });
                }
            }
            Ok(ran)
        })
    }

    fn write_file<'a>(
        &'a self,
        path: &'a str,
        content: Vec<u8>,
    ) -> BoxFuture<'a, Result<Entry, Error>> {
        Box::pin(async move {
            Ok(Entry {
                name: path.into(),
                path: format!("/home/user/{path}"),
                kind: "file",
                size: content.len() as u64,
            })
        })
    }

    fn read_file<'a>(&'a self, path: &'a str, _: u64) -> BoxFuture<'a, Result<Vec<u8>, Error>> {
        Box::pin(async move { Ok(path.as_bytes().to_vec()) })
    }

    fn list<'a>(&'a self, dir: &'a str) -> BoxFuture<'a, Result<Vec<Entry>, Error>> {
        Box::pin(async move { Ok(vec![self.write_file(dir, Vec::new()).await?]) })
    }

    fn restart(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        self.closed.store(true, Ordering::Relaxed);
        Box::pin(async {})
    }

    fn gone(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::pending())
    }
}

fn spec(options: Value) -> SessionSpec {
    read_spec(&options, Duration::from_secs(60), &Limits::default()).unwrap()
}

fn session(options: Value) -> (Arc<Session>, Arc<AtomicBool>, CancellationToken) {
    let fake = Fake::default();
    let closed = fake.closed.clone();
    let service = CancellationToken::new();
    let session = Session::start(Box::new(fake), spec(options), "local", service.clone());
    (session, closed, service)
}

async fn run(session: &Session, code: &str, options: Value) -> Result<Execution, Error> {
    session
        .run(code.into(), &options, None, &CancellationToken::new())
        .await
}

#[test]
fn options_are_read_with_their_defaults() {
    let s = spec(Value::Null);
    assert_eq!(s.language, CodeLanguage::Python);
    assert_eq!((s.lifetime, s.idle), (DEFAULT_LIFETIME, DEFAULT_IDLE));
    assert_eq!(s.run_timeout, Duration::from_secs(60));
    let s = spec(
        json!({ "language": "ts", "timeoutMs": 5000, "idleTimeoutMs": 100, "env": { "A": "b" }, "limits": { "processes": 8 } }),
    );
    assert_eq!(s.language, CodeLanguage::TypeScript);
    assert_eq!(
        (s.lifetime, s.idle),
        (Duration::from_secs(5), Duration::from_millis(100))
    );
    assert_eq!((s.env["A"].as_str(), s.limits.processes), ("b", 8));
    for bad in [
        json!({ "language": "cobol" }),
        json!({ "idleTimeoutMs": 0 }),
        json!({ "env": { "1A": "x" } }),
        json!({ "limits": { "processes": 1 } }),
        json!({ "onStdout": 1 }),
        json!("python"),
    ] {
        let error = read_spec(&bad, Duration::from_secs(1), &Limits::default()).unwrap_err();
        assert_eq!(error.code(), "ERR_INVALID_ARG", "{bad}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_run_past_its_timeout_resolves_with_a_timeout_error_and_the_session_lives_on() {
    let (session, _, _) = session(Value::Null);
    let execution = run(&session, "sleep 100", json!({ "timeoutMs": 1000 }))
        .await
        .unwrap();
    let error = execution.error.unwrap();
    assert_eq!(error.name, "TimeoutError");
    assert!(
        error.value.contains("1000 ms") && error.value.contains("kept"),
        "{}",
        error.value
    );
    assert_eq!(execution.stdout, ["sleep 100\n"]);
    let execution = run(&session, "sleep 100 stubborn", json!({ "timeoutMs": 10 }))
        .await
        .unwrap();
    assert!(execution.error.unwrap().value.contains("state is lost"));
    // The default timeout is the service's.
    let execution = run(&session, "sleep 61", Value::Null).await.unwrap();
    assert_eq!(execution.error.unwrap().name, "TimeoutError");
    assert_eq!(run(&session, "x", Value::Null).await.unwrap().error, None);
}

#[tokio::test(start_paused = true)]
async fn an_aborted_run_rejects_and_the_session_lives_on() {
    let (session, _, _) = session(Value::Null);
    let cancel = CancellationToken::new();
    let aborting = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        aborting.cancel();
    });
    let error = session
        .run("sleep 100".into(), &Value::Null, None, &cancel)
        .await
        .unwrap_err();
    assert_eq!(error, Error::Aborted);
    assert!(run(&session, "x", Value::Null).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn run_options_are_checked() {
    let (session, _, _) = session(Value::Null);
    for bad in [
        json!({ "language": "r" }),
        json!({ "timeoutMs": -1 }),
        json!({ "env": { "A": 1 } }),
        json!({ "cwd": "/" }),
    ] {
        let error = run(&session, "x", bad.clone()).await.unwrap_err();
        assert_eq!(error.code(), "ERR_INVALID_ARG", "{bad}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_idle_session_ends_and_says_why() {
    let (session, closed, _) = session(json!({ "idleTimeoutMs": 1000 }));
    // A call in progress keeps it alive past the idle timeout.
    assert!(run(&session, "sleep 5", Value::Null).await.is_ok());
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(run(&session, "x", Value::Null).await.is_ok());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(closed.load(Ordering::Relaxed));
    let error = run(&session, "x", Value::Null).await.unwrap_err();
    assert_eq!(error.code(), "ERR_CLOSED");
    assert!(error.to_string().contains("idleTimeoutMs"), "{error}");
    assert_eq!(
        session.read_file("a").await.unwrap_err().code(),
        "ERR_CLOSED"
    );
}

#[tokio::test(start_paused = true)]
async fn a_session_ends_at_its_lifetime_even_in_the_middle_of_a_run() {
    let (session, closed, _) = session(json!({ "timeoutMs": 2000 }));
    let error = run(&session, "sleep 100", json!({ "timeoutMs": 50000 }))
        .await
        .unwrap_err();
    assert!(closed.load(Ordering::Relaxed));
    assert!(error.to_string().contains("lifetime of 2000 ms"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn closing_the_session_or_its_service_ends_it() {
    let (session, closed, _) = session(Value::Null);
    session.close().await;
    assert!(closed.load(Ordering::Relaxed));
    let error = session.list("").await.unwrap_err();
    assert!(error.to_string().contains("session was closed"), "{error}");
    let (session, closed, service) = session_pair();
    service.cancel();
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(closed.load(Ordering::Relaxed));
    let error = run(&session, "x", Value::Null).await.unwrap_err();
    assert!(error.to_string().contains("service was closed"), "{error}");
}

fn session_pair() -> (Arc<Session>, Arc<AtomicBool>, CancellationToken) {
    session(Value::Null)
}

#[tokio::test(start_paused = true)]
async fn file_paths_stay_in_the_work_dir() {
    let (session, _, _) = session(json!({ "limits": { "diskBytes": 1048576 } }));
    let entry = session
        .write_file("/home/user/a/./b.txt", b"hi".to_vec())
        .await
        .unwrap();
    assert_eq!((entry.path.as_str(), entry.size), ("/home/user/a/b.txt", 2));
    assert_eq!(session.read_file("a/b.txt").await.unwrap(), b"a/b.txt");
    assert_eq!(session.list("/home/user/").await.unwrap()[0].name, "");
    for bad in ["../x", "/etc/passwd", ""] {
        assert_eq!(
            session.read_file(bad).await.unwrap_err().code(),
            "ERR_INVALID_ARG",
            "{bad}"
        );
    }
    let big = vec![0u8; 2 << 20];
    let error = session.write_file("big", big).await.unwrap_err();
    assert!(error.to_string().contains("diskBytes"), "{error}");
}
