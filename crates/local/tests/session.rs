//! Long-lived sandboxes (`e2b-native serve`) through their Rust API.

use std::time::Duration;

use e2b_native_core::Limits;
use e2b_native_local::protocol::session::{EntryKind, FileErrorKind, FileOp};
use e2b_native_local::session::{
    Command, ExitStatus, PipeDirection, PipeEnd, Process, Session, SessionConfig, SessionError,
};
use e2b_native_local::Isolation;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

async fn session() -> Session {
    Session::start(SessionConfig {
        helper: env!("CARGO_BIN_EXE_e2b-sandbox").into(),
        limits: Limits::default(),
        interpreters: Vec::new(),
        isolation: Isolation::Namespaces,
    })
    .await
    .expect("the sandbox starts")
}

fn bash(script: &str) -> Command {
    Command {
        argv: vec!["/bin/bash".into(), "-c".into(), script.into()],
        env: vec![
            ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
            ("HOME".into(), "/home/user".into()),
        ],
        ..Default::default()
    }
}

async fn output(mut process: Process) -> (String, String, ExitStatus) {
    let (mut out, mut err) = (String::new(), String::new());
    let (a, b) = tokio::join!(
        process.stdout.read_to_string(&mut out),
        process.stderr.read_to_string(&mut err)
    );
    a.unwrap();
    b.unwrap();
    (out, err, process.ended.await)
}

async fn run(session: &Session, script: &str) -> (String, String, ExitStatus) {
    output(session.spawn(bash(script)).await.unwrap()).await
}

#[tokio::test]
async fn programs_run_as_the_sandbox_user_and_files_persist() {
    let s = session().await;
    let (out, err, status) = run(&s, "id -u; pwd; echo oops >&2; exit 3").await;
    assert_eq!(
        (out.as_str(), err.as_str(), status),
        ("1000\n/home/user\n", "oops\n", ExitStatus::Code(3))
    );
    // SIGPIPE has its default action (the helper's Rust runtime ignores it).
    let (out, err, _) = run(&s, "yes | head -1").await;
    assert_eq!((out.as_str(), err.as_str()), ("y\n", ""));
    run(&s, "echo kept > note.txt").await;
    let (out, _, _) = run(&s, "cat /home/user/note.txt").await;
    assert_eq!(out, "kept\n");
    s.kill();
    s.gone().await;
    assert!(matches!(
        s.spawn(bash("true")).await,
        Err(SessionError::Gone)
    ));
}

#[tokio::test]
async fn working_directory_env_and_missing_commands() {
    let s = session().await;
    let mut cmd = bash("pwd; echo $GREETING");
    cmd.cwd = "/tmp".into();
    cmd.env.push(("GREETING".into(), "hi".into()));
    let (out, _, status) = output(s.spawn(cmd).await.unwrap()).await;
    assert_eq!((out.as_str(), status), ("/tmp\nhi\n", ExitStatus::Code(0)));

    let mut cmd = bash("true");
    cmd.cwd = "/nowhere".into();
    let refused = s.spawn(cmd).await.unwrap_err();
    assert!(
        matches!(&refused, SessionError::Refused(m) if m.contains("/nowhere")),
        "{refused:?}"
    );

    let mut cmd = bash("true");
    cmd.argv[0] = "no-such-program".into();
    let refused = s.spawn(cmd).await.unwrap_err();
    assert!(
        matches!(&refused, SessionError::Refused(m) if m.contains("not found")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn signals_reach_a_process_group_and_one_command_can_signal_another() {
    let s = session().await;
    let sleeper = s.spawn(bash("exec sleep 30")).await.unwrap();
    // Another command may signal it (one Landlock domain per sandbox).
    let (_, err, status) = run(&s, &format!("kill -TERM {}", sleeper.pid)).await;
    assert_eq!((err.as_str(), status), ("", ExitStatus::Code(0)));
    let (_, _, status) = output(sleeper).await;
    assert_eq!(status, ExitStatus::Signal(libc::SIGTERM));

    let sleeper = s.spawn(bash("sleep 30; sleep 30")).await.unwrap();
    s.signal(sleeper.pid, libc::SIGKILL, true).await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(5), output(sleeper))
        .await
        .expect("the group dies at once")
        .2;
    assert_eq!(status, ExitStatus::Signal(libc::SIGKILL));
}

#[tokio::test]
async fn extra_pipes_carry_a_conversation() {
    let s = session().await;
    let mut cmd = bash("read line <&3; echo \"got $line\" >&4");
    cmd.pipes = vec![PipeDirection::ToProgram, PipeDirection::FromProgram];
    let mut process = s.spawn(cmd).await.unwrap();
    let mut pipes = std::mem::take(&mut process.pipes).into_iter();
    let (Some(PipeEnd::Writer(mut to)), Some(PipeEnd::Reader(from))) = (pipes.next(), pipes.next())
    else {
        panic!("two pipes")
    };
    to.write_all(b"ping\n").await.unwrap();
    let mut line = String::new();
    BufReader::new(from).read_line(&mut line).await.unwrap();
    assert_eq!(line, "got ping\n");
    assert_eq!(output(process).await.2, ExitStatus::Code(0));
}

#[tokio::test]
async fn files_are_written_read_and_listed_as_the_user() {
    let s = session().await;
    let mut upload = s.write_file("dir/sub/hello.txt").await.unwrap();
    upload.write(b"hello ").await.unwrap();
    upload.write(b"world").await.unwrap();
    let entry = upload.finish().await.unwrap();
    assert_eq!(
        (
            entry.path.as_str(),
            entry.name.as_str(),
            entry.size,
            entry.owner.as_str()
        ),
        ("/home/user/dir/sub/hello.txt", "hello.txt", 11, "user")
    );
    let (out, _, _) = run(
        &s,
        "cat dir/sub/hello.txt; echo; stat -c %U dir/sub/hello.txt",
    )
    .await;
    assert_eq!(out, "hello world\nuser\n");

    let (entry, mut data) = s.read_file("/home/user/dir/sub/hello.txt").await.unwrap();
    let mut content = String::new();
    data.read_to_string(&mut content).await.unwrap();
    assert_eq!((entry.size, content.as_str()), (11, "hello world"));

    let missing = s.read_file("nope.txt").await.unwrap_err();
    assert_eq!(missing.kind, FileErrorKind::NotFound);
    let dir = s.read_file("dir").await.unwrap_err();
    assert_eq!(dir.kind, FileErrorKind::IsDirectory);
    // Nothing outside the writable dirs can be written.
    let refused = s
        .write_file("/usr/evil")
        .await
        .unwrap()
        .finish()
        .await
        .unwrap_err();
    assert_eq!(refused.kind, FileErrorKind::PermissionDenied, "{refused:?}");

    let listed = s
        .file_op(FileOp::ListDir {
            path: "dir".into(),
            depth: 2,
        })
        .await
        .unwrap();
    let names: Vec<_> = listed.iter().map(|e| (e.name.as_str(), e.kind)).collect();
    assert_eq!(
        names,
        [
            ("sub", EntryKind::Directory),
            ("hello.txt", EntryKind::File)
        ]
    );
    let made = s
        .file_op(FileOp::MakeDir { path: "dir".into() })
        .await
        .unwrap_err();
    assert_eq!(made.kind, FileErrorKind::AlreadyExists);
    s.file_op(FileOp::Rename {
        from: "dir/sub/hello.txt".into(),
        to: "moved/hello.txt".into(),
    })
    .await
    .unwrap();
    s.file_op(FileOp::Remove { path: "dir".into() })
        .await
        .unwrap();
    let (out, _, _) = run(&s, "ls; cat moved/hello.txt").await;
    assert_eq!(out, "moved\nhello world");
}

#[tokio::test]
async fn a_large_file_round_trips() {
    let s = session().await;
    let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut upload = s.write_file("/tmp/big.bin").await.unwrap();
    for chunk in content.chunks(70_000) {
        upload.write(chunk).await.unwrap();
    }
    assert_eq!(upload.finish().await.unwrap().size, content.len() as u64);
    let (_, mut data) = s.read_file("/tmp/big.bin").await.unwrap();
    let mut back = Vec::new();
    data.read_to_end(&mut back).await.unwrap();
    assert!(back == content);
}

#[tokio::test]
async fn killing_the_session_kills_every_process_in_it() {
    let s = session().await;
    // A duration no other process on the host sleeps for.
    let daemon = s
        .spawn(bash("setsid sleep 300.4242 >/dev/null 2>&1 & echo started"))
        .await
        .unwrap();
    let (out, _, _) = output(daemon).await;
    assert_eq!(out, "started\n");
    let sleepers = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("cmdline")).ok())
            .filter(|c| c == "sleep\x00300.4242\x00")
            .count()
    };
    // The daemon execs `sleep` after the echo; the kernel takes the
    // session's processes down after the kill, not within it: each is
    // waited for (a daemon that never shows, or a leak, stays and fails).
    let settle = |want: usize| async move {
        for _ in 0..300 {
            if sleepers() == want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        sleepers()
    };
    assert_eq!(settle(1).await, 1, "the daemon runs, seen from the host");
    drop(s);
    assert_eq!(settle(0).await, 0);
}

#[tokio::test]
async fn programs_hold_no_descriptor_of_init_or_the_host_and_cannot_touch_init() {
    let s = session().await;
    // 0, 1, 2, and the directory ls itself opened.
    let (out, _, _) = run(&s, "ls /proc/self/fd | tr '\\n' ' '").await;
    assert_eq!(out, "0 1 2 3 ");
    let (_, err, status) = run(&s, "ls /proc/1/fd").await;
    assert!(err.contains("Permission denied"), "{err}");
    assert_ne!(status, ExitStatus::Code(0));
    let (_, err, _) = run(&s, "echo x > /proc/1/mem").await;
    assert!(err.contains("Permission denied"), "{err}");
    // Signals from inside to pid 1 are ignored: the sandbox keeps serving.
    run(&s, "kill -9 1; kill -TERM 1").await;
    let (out, _, _) = run(&s, "echo alive").await;
    assert_eq!(out, "alive\n");
    let (out, _, _) = run(
        &s,
        "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status",
    )
    .await;
    assert_eq!(
        out,
        "CapEff:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n"
    );
}
