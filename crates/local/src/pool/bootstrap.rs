//! What a pooled sandbox's interpreter runs while it waits, and what it is
//! fed. The bootstrap writes one byte on its stdin (a socket whose other end
//! init holds: "ready"), blocks reading its code there, puts /dev/null in its
//! place, sets the call's extra environment, then runs the
//! code as `python3 -c` / `node -e` would: Python in `__main__` with
//! `sys.argv == ['-c']`, compiled as `<string>`, tracebacks without the
//! bootstrap's frame, SystemExit and KeyboardInterrupt ending the process as
//! they would; Node in the main context as `[eval]`, with `require`,
//! `module`, `__filename` as `-e` gives them. It leaves no name behind.
//! Bash has none: its sandbox's process waits, confined, and execs
//! `bash -c CODE` on its go (`Program::exec_on_go`).
//!
//! While it waits it does what the first line of any program pays for, so
//! that the call does not: Python compiles once (the compiler's first use
//! costs ~1 ms) and freezes the start-up objects out of the cyclic GC (so
//! exit does not walk them, ~1.3 ms); Node creates `process.stdout` and
//! `process.stderr` (writing nothing to them), runs a `console.log` into a
//! stream of its own (the first one costs ~1.4 ms), and a script through
//! `vm` (~4 ms in all).
//!
//! When Python's code returns, the bootstrap ends it as the interpreter's
//! exit would, as far as a program can tell: non-daemon threads joined,
//! atexit handlers run, the streams flushed, `__main__` cleared as
//! finalization clears it (so objects left there, open files included, are
//! finalized), cycles collected, the streams flushed again; then `os._exit(0)`
//! skips freeing the interpreter itself (~1 ms). Code that imported modules
//! of its own (from its files), whose objects finalization would also reach,
//! and anything unexpected on the way fall back to the interpreter's own
//! exit. Exits by exception or `SystemExit` take the interpreter's path
//! throughout.

/// Python's bootstrap, for `python3 -u -c`.
pub(super) const PYTHON: &str = r#"def _e2b_boot():
    import gc, os, sys
    del globals()['_e2b_boot']
    def flush():
        for stream in (sys.stdout, sys.stderr):
            if stream is not None and not getattr(stream, 'closed', False):
                stream.flush()
    compile('pass', '<string>', 'exec')
    gc.freeze()
    os.write(0, b'r')
    chunks = []
    while True:
        chunk = os.read(0, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    if not chunks:
        os._exit(0)
    null = os.open('/dev/null', os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    data = b''.join(chunks)
    del chunks
    end = 0
    while data[end:end + 1] != b'\0':
        nul = data.index(b'\0', end)
        key, _, value = data[end:nul].partition(b'=')
        os.environb[key] = value
        end = nul + 1
    source = data[end + 1:].decode()
    del data
    if hasattr(sys, 'orig_argv'):
        sys.orig_argv[-1] = source
    try:
        code = compile(source, '<string>', 'exec')
    except SyntaxError as e:
        sys.excepthook(type(e), e, e.with_traceback(None).__traceback__)
        raise SystemExit(1)
    try:
        exec(code, globals())
    except SystemExit:
        raise
    except BaseException as e:
        e.__traceback__ = e.__traceback__.tb_next
        sys.excepthook(type(e), e, e.__traceback__)
        if isinstance(e, KeyboardInterrupt):
            import signal
            sys.stdout.flush()
            sys.stderr.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        raise SystemExit(1)
    del code, source
    # Modules of the code's own (from its files) are left to the interpreter.
    prefix = os.path.join(sys.base_prefix, '')
    for module in list(sys.modules.values()):
        path = getattr(module, '__file__', None)
        if isinstance(path, str) and not path.startswith(prefix):
            return
    try:
        threading = sys.modules.get('threading')
        if threading is not None:
            threading._shutdown()
        import atexit
        atexit._run_exitfuncs()
        flush()
        gc.collect()
        main = globals()
        for name in list(main):
            if name[:1] == '_' and name[1:2] != '_':
                main[name] = None
        for name in list(main):
            if name != '__builtins__':
                main[name] = None
        gc.collect()
        flush()
    except BaseException:
        return
    os._exit(0)
_e2b_boot()
"#;

/// Node's bootstrap, for `node -e`: one block (its `const`s are not globals).
pub(super) const NODE: &str = "{ const fs = require('fs'), vm = require('vm'); \
process.stdout.write(''); process.stderr.write(''); \
new console.Console(new (require('stream').Writable)({ write(c, e, done) { done() } })).log('%s', 0); \
new vm.Script('0', { filename: '[eval]' }).runInThisContext(); \
fs.writeSync(0, 'r'); const data = fs.readFileSync(0); if (data.length === 0) process.exit(0); \
fs.closeSync(0); fs.openSync('/dev/null', 'r'); \
let end = 0; while (data[end] !== 0) { const nul = data.indexOf(0, end), \
entry = data.toString('utf8', end, nul), eq = entry.indexOf('='); \
process.env[entry.slice(0, eq)] = entry.slice(eq + 1); end = nul + 1 } \
const code = data.toString('utf8', end + 1); \
process.execArgv[process.execArgv.length - 1] = code; \
new vm.Script(code, { filename: '[eval]' }).runInThisContext({ displayErrors: true }) }";
