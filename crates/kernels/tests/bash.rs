//! The bash kernel run directly: one interactive bash per context.

mod common;

use common::{scratch_dir, start, Kernel, Options};
use e2b_native_kernels::Language;

fn bash() -> Option<Kernel> {
    start(Language::Bash, Options::default())
}

#[test]
fn state_persists_across_cells() {
    let Some(mut k) = bash() else { return };
    assert_eq!(k.mode(), "bash");
    let run = k.run("x=1\ngreet() { echo \"hello $1\"; }\ndeclare -A map=([k]=v)\nalias say='echo said'\nexport SHARED=yes\ncd /tmp");
    assert!(run.error().is_none(), "{run:?}");
    let run = k.run("echo $x; greet you; echo ${map[k]}; say it; pwd; bash -c 'echo $SHARED'");
    assert_eq!(run.stdout(), "1\nhello you\nv\nsaid it\n/tmp\nyes\n");
    assert_eq!(run.count(), Some(2));
}

#[test]
fn stdout_and_stderr_stay_apart() {
    let Some(mut k) = bash() else { return };
    let run = k.run("echo out; echo err >&2; printf 'no newline'");
    assert_eq!(run.stdout(), "out\nno newline");
    assert_eq!(run.stderr(), "err\n");
    let run = k.run("cat <<'EOF'\nquoted 'text' \"here\" $HOME \\n é ✓\nEOF");
    assert_eq!(run.stdout(), "quoted 'text' \"here\" $HOME \\n é ✓\n");
    // The code's stdin is empty: it cannot read the kernel's requests.
    assert_eq!(
        k.run("read line; echo \"got [$line] $?\"").stdout(),
        "got [] 1\n"
    );
}

#[test]
fn a_failing_status_is_reported_as_e2b_bash_kernel_does() {
    let Some(mut k) = bash() else { return };
    let error = k.run("echo before; false").error().unwrap();
    assert_eq!(
        (
            error.name.as_str(),
            error.value.as_str(),
            error.traceback.as_str()
        ),
        ("", "1", "")
    );
    assert_eq!(k.run("ls /no/such/dir").error().unwrap().value, "2");
    assert!(
        k.run("false; true").error().is_none(),
        "the last command's status counts"
    );
}

#[test]
fn exit_ends_the_cell_and_keeps_the_shell() {
    let Some(mut k) = bash() else { return };
    k.run("kept=here");
    let run = k.run("echo before; exit 3; echo after");
    assert_eq!(run.stdout(), "before\n");
    assert_eq!(run.error().unwrap().value, "3");
    assert!(!run.ended);
    assert!(k.run("exit 0").error().is_none());
    assert_eq!(
        k.run("(exit 4); echo \"subshell $?\"; echo $kept").stdout(),
        "subshell 4\nhere\n"
    );
}

#[test]
fn a_shell_that_really_exits_ends_the_kernel() {
    let Some(mut k) = bash() else { return };
    let run = k.run("set -e; false; echo never");
    assert!(run.ended, "{run:?}");
    assert!(!k.wait_for_exit().success());
}

#[test]
fn env_vars_apply_to_one_execution() {
    let env = vec![("TEST_ENV_VAR".to_string(), "supertest".to_string())];
    let Some(mut k) = start(
        Language::Bash,
        Options {
            env,
            ..Options::default()
        },
    ) else {
        return;
    };
    assert_eq!(k.run("echo $TEST_ENV_VAR").stdout_chunks(), ["supertest\n"]);
    let run = k.run_with(
        "echo $FOO $TEST_ENV_VAR; env | grep -c '^FOO=bar$'",
        &[("FOO", "bar"), ("TEST_ENV_VAR", "overwrite")],
    );
    assert_eq!(run.stdout(), "bar overwrite\n1\n");
    assert_eq!(
        k.run("echo ${FOO:-default} $TEST_ENV_VAR").stdout(),
        "default supertest\n"
    );
    // A shell variable that was not exported stays unexported.
    k.run("local_only=1");
    k.run_with("true", &[("local_only", "2")]);
    assert_eq!(
        k.run("echo $local_only; env | grep -c local_only").stdout(),
        "1\n0\n"
    );
}

#[test]
fn the_kernel_starts_in_the_contexts_cwd() {
    let cwd = scratch_dir();
    let Some(mut k) = start(
        Language::Bash,
        Options {
            cwd: cwd.clone(),
            ..Options::default()
        },
    ) else {
        return;
    };
    let pwd = k.run("pwd").stdout();
    assert_eq!(
        std::fs::canonicalize(pwd.trim()).unwrap(),
        std::fs::canonicalize(cwd).unwrap()
    );
}

#[test]
fn sigint_stops_the_running_command_and_the_rest_of_the_cell() {
    let Some(mut k) = bash() else { return };
    k.run("n=0");
    let run = k.run_interrupting("echo sleeping; sleep 60; n=1", "sleeping");
    assert_eq!(run.error().unwrap().name, "ExecutionAborted");
    let spin = "while :; do n=2; [[ -n ${said-} ]] || { said=1; echo spinning; }; done";
    let run = k.run_interrupting(spin, "spinning");
    assert_eq!(run.error().unwrap().name, "ExecutionAborted");
    let run = k.run_interrupting("f() { echo deep; sleep 60; }; f; n=3", "deep");
    assert_eq!(run.error().unwrap().name, "ExecutionAborted");
    assert_eq!(
        k.run("echo $n").stdout(),
        "2\n",
        "the cell stopped where it was"
    );
}
