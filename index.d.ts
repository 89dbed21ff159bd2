/**
 * e2b-native: run untrusted Python, Node.js and Bash code in a fresh sandbox per
 * call. A drop-in replacement for the `E2BService` of
 * `frontend/lib/services/e2b.ts`: same names, argument orders, defaults and
 * result fields; everything new is optional.
 */

/** What one execution did. The first four fields are those of the replaced service. */
export interface CodeExecutionResult {
  /** Exactly the bytes the code wrote to stdout (UTF-8, invalid bytes replaced). */
  stdout: string
  /** Exactly the bytes the code wrote to stderr (tracebacks included). */
  stderr: string
  /** The real exit status: 0, N from `exit(N)`, 1 for an uncaught exception, 128+signal, 124 on timeout. */
  exitCode: number
  /**
   * The uncaught exception's class name (`ZeroDivisionError`, `ReferenceError`), or
   * the limit the code hit (`TimeoutError`, `OutputLimitError`, `MemoryLimitError`,
   * `ProcessLimitError`, `DiskLimitError`). Absent otherwise.
   */
  error?: string
  /** True when the code ran past its timeout and was killed. */
  timedOut?: boolean
  /** True when an output stream passed `maxOutputBytes` and was cut there. */
  truncated?: boolean
  /** The limit the code hit; `error` then names it (see the README's result table). */
  limit?: 'time' | 'cpu' | 'output' | 'memory' | 'processes' | 'disk'
  /** Wall time of the call, sandbox creation and cleanup included. */
  durationMs?: number
  /** The backend that ran the code. */
  backend?: 'local' | 'e2b'
  /**
   * Which isolation ran it: `namespaces` (the local full tier), `landlock` (the local tier
   * where namespaces are refused, as in default containers: see SECURITY.md for what it
   * cannot promise), `microvm` (E2B's cloud).
   */
  isolation?: 'namespaces' | 'landlock' | 'microvm'
  /**
   * With `readFiles`: each file the code left, keyed by the path as given. Node
   * `Buffer`s at runtime, typed as their base class so no `@types/node` is needed.
   */
  files?: Record<string, Uint8Array>
  /**
   * Python only: rich results (E2B's `Result`), such as each figure shown with
   * `plt.show()` (`png`, `chart`) where the data-science environment gives matplotlib.
   * Absent when there are none.
   */
  results?: Result[]
}

export type Language = 'python' | 'node' | 'bash'

/** Resource limits of one sandbox; each must be a whole number in its range. */
export interface Limits {
  /** Memory of the whole sandbox (cgroup; rlimit fallback). Default 512 MiB; 32 MiB … 1 TiB. */
  memoryBytes?: number
  /** Processes and threads of the whole sandbox. Default 64; 4 … 65536. */
  processes?: number
  /** CPU seconds per process (`RLIMIT_CPU`; `limit: "cpu"`, exit 152 when hit). Default: none, so the timeout alone stops a busy program. */
  cpuSeconds?: number
  /** Size of the writable /home/user, /tmp and /dev/shm (each). Default 256 MiB. */
  diskBytes?: number
  /** Open files per process. Default 1024. */
  openFiles?: number
  /** Bytes kept per output stream (same as `maxOutputBytes`). Default 10 MiB. */
  outputBytes?: number
}

/** One row of `E2BService.diagnose()`. */
export interface DiagnosticCheck {
  layer: string
  /**
   * `active`: protects every sandbox; `fallback`: a weaker mechanism stands in;
   * `missing`: not available; `unknown`: could not be probed (no sandbox could be built).
   */
  status: 'active' | 'fallback' | 'missing' | 'unknown'
  detail: string
  /** What to change on the host, for rows that are not active. */
  fix?: string
}

/** Options of the constructor; each applies to every call unless the call overrides it. */
export interface ServiceOptions {
  /**
   * Where code runs. Default: `E2B_BACKEND`, else `"e2b"` when an API key is set,
   * else `"local"` — except with `NODE_ENV=production`, where a missing key makes
   * every call reject with `ERR_NOT_CONFIGURED`.
   */
  backend?: 'local' | 'e2b'
  /** E2B API key; default `process.env.E2B_API_KEY`. */
  apiKey?: string
  /** Per-call timeout in ms, sandbox creation included. Default 60000, at most 24 h. */
  timeoutMs?: number
  /** Bytes kept per output stream; past it the code is stopped (`OutputLimitError`). Default 10 MiB. */
  maxOutputBytes?: number
  /** Interpreter binaries for the local backend; by default found on PATH (shims skipped). */
  interpreters?: Partial<Record<Language, string>>
  /** Resource limits of every sandbox. */
  limits?: Limits
  /** Bounds installing packages, apart from `timeoutMs`. Default 300000. */
  installTimeoutMs?: number
  /** local: where `executeWithPackages` finds packages and keeps them. */
  packages?: PackageOptions
  /** e2b: sandbox template. Default `code-interpreter-v1`. */
  template?: string
  /** e2b: `E2B_DOMAIN`, default `e2b.app`. */
  domain?: string
  /** e2b: control-plane URL; default `E2B_API_URL`, else `https://api.{domain}`. */
  apiUrl?: string
  /** e2b: one URL for every sandbox's services (self-hosted/debug); default `E2B_SANDBOX_URL`. */
  sandboxUrl?: string
  /** e2b: sandboxes at once; further calls wait. Default 20. */
  maxConcurrency?: number
  /**
   * local: the warm pool, sandboxes prepared ahead of time (interpreter started)
   * so that a call only hands over its code. Each serves one call and is then
   * destroyed. `false` turns it off. Default `{ size: 2, idleMs: 30000 }`, the
   * size from `E2B_NATIVE_POOL_SIZE` when set (0: off).
   */
  pool?: false | PoolOptions
  /**
   * local: which isolation tier sandboxes must have. `auto` (default, or
   * `E2B_NATIVE_ISOLATION`): namespaces where the host allows them, else the
   * namespace-free `landlock` tier (results and `diagnose()` say which ran);
   * `namespaces`: require the full tier, so that calls reject with
   * `ERR_ISOLATION_UNAVAILABLE` (naming the fix) instead of degrading; `landlock`:
   * always the namespace-free tier.
   */
  isolation?: 'auto' | 'namespaces' | 'landlock'
  /**
   * local: when Python sandboxes get the data-science environment (IPython,
   * numpy, pandas, matplotlib, … read-only on `PYTHONPATH`). `'auto'` (default,
   * or `E2B_NATIVE_DATA_SCIENCE`): once it is installed (`npx e2b-native prepare`,
   * a session, `serve`); `true`: the first call that needs it installs it
   * (~330 MB, once per host); `false`: never.
   */
  dataScience?: 'auto' | boolean
}

export interface PoolOptions {
  /** Sandboxes kept ready per language (python, node), 0 to 64. Default 2. */
  size?: number
  /** A language's ready sandboxes are dropped after this long without a call. Default 30000. */
  idleMs?: number
  /**
   * Python's sandboxes are forked from one clean interpreter, started once,
   * instead of each starting its own: the same sandbox, a third of the CPU.
   * Default true; see docs/fork-server.md for what a program can tell.
   */
  forkServer?: boolean
}

/** One language's warm pool. */
export interface PoolLaneStats {
  /** Sandboxes ready and waiting for a call. */
  ready: number
  /** Sandboxes being prepared. */
  starting: number
  /** Calls this pool has served warm. */
  served: number
  /** Its sandboxes are forked from the fork server (Python, where it runs). */
  forkServer: boolean
  /** Python, when the fork server could not start: why (it is tried again a minute later). */
  forkServerError?: string
}

export interface PoolStats {
  /** Sandboxes kept ready per language; 0 when the pool is off (or the backend is e2b). */
  size: number
  idleMs: number
  python?: PoolLaneStats
  node?: PoolLaneStats
  bash?: PoolLaneStats
}

/** Package sources and cache of the local backend (the e2b backend uses its template's pip and npm). */
export interface PackageOptions {
  /**
   * The cache shared by calls and processes: downloads and one ready folder per exact
   * package set. Default `$XDG_CACHE_HOME/e2b-native`, else `~/.cache/e2b-native`;
   * `/var/cache/e2b-native` when running as root (its sandboxes run as `nobody`,
   * who must be able to read it).
   */
  cacheDir?: string
  /** Bound of the cache; least recently used sets go first. Default 2 GiB. */
  maxCacheBytes?: number
  /** A PEP 503 index (company mirror). Default `https://pypi.org/simple`, or none when only `pythonWheelDir` is set. */
  pythonIndexUrl?: string
  /** A local folder of wheels (pip `--find-links`); alone, installs are offline. */
  pythonWheelDir?: string
  /** An npm registry. Default `https://registry.npmjs.org/`. */
  npmRegistry?: string
  /** More `host` or `host:port` (default port 443) the install step may reach, e.g. a mirror's file host. */
  allowHosts?: string[]
}

/** Options of one call. */
export interface ExecuteOptions {
  /** Timeout of this call in ms; default the constructor's (60000). */
  timeoutMs?: number
  /** Environment variables for the code (POSIX names, string values). */
  env?: Record<string, string>
  /** Aborting kills the sandbox and rejects with an `AbortError` (`code: 'ABORT_ERR'`). */
  signal?: AbortSignal
  /** Limits of this call, over the constructor's. */
  limits?: Limits
  /** Bounds installing this call's packages. */
  installTimeoutMs?: number
  /**
   * Called with output as it is produced; each chunk is valid UTF-8 (a character is
   * never split). The result still carries the whole output, capped at `maxOutputBytes`;
   * a watched stream is not stopped at the cap (`truncated: true`, no error). A callback
   * that throws stops the sandbox and the call rejects with `ERR_CALLBACK` (`cause`: what it threw).
   */
  onStdout?: (chunk: string) => void
  onStderr?: (chunk: string) => void
  /** Written into the work dir (`/home/user`) before the code runs; paths relative to it or beneath it. */
  files?: { path: string; content: string | Uint8Array }[]
  /**
   * Work-dir paths whose contents come back as `result.files` (Buffers, each at most
   * `maxOutputBytes`). A path or symlink leading out of the work dir rejects with `ERR_INVALID_ARG`.
   */
  readFiles?: string[]
}

/** A language of a session's kernels; `js` and `ts` are aliases, as in E2B. */
export type SessionLanguage = 'python' | 'javascript' | 'typescript' | 'bash' | 'js' | 'ts'

/** Options of `createSession()`. */
export interface SessionOptions {
  /** The language of `runCode` calls that name none. Default `python`. */
  language?: SessionLanguage
  /** The session's whole lifetime in ms; it is closed then, even mid-run. Default 3600000 (1 h), at most 24 h. */
  timeoutMs?: number
  /** The session is closed after this long without a call (runCode or files). Default 300000 (5 min). */
  idleTimeoutMs?: number
  /** Environment variables of every kernel of the session (POSIX names, string values). */
  env?: Record<string, string>
  /**
   * Limits of the whole session sandbox (its kernels and what they start), over the
   * constructor's; `cpuSeconds` bounds each process. local only: E2B's template sets the size.
   */
  limits?: Limits
}

/** A chunk of a run's output, as E2B's `OutputMessage`. */
export interface OutputMessage {
  /** The chunk as written (it carries its own newlines). */
  line: string
  /** Microseconds since the epoch. */
  timestamp: number
  /** True for stderr. */
  error: boolean
  toString(): string
}

/** One result of a run (E2B's `Result`): the last expression's value or display data (figures, `display()`). */
export interface Result {
  text?: string
  html?: string
  markdown?: string
  svg?: string
  /** Base64. */
  png?: string
  /** Base64. */
  jpeg?: string
  pdf?: string
  latex?: string
  json?: unknown
  javascript?: string
  /** A DataFrame's columns (E2B's `e2b/data`). */
  data?: Record<string, unknown>
  /** A matplotlib figure as E2B's typed chart (`e2b/chart`). */
  chart?: Record<string, unknown>
  /** Other MIME types, by name. */
  extra: Record<string, unknown>
  /** True for the value of the code's last expression; false for display data. */
  isMainResult: boolean
  /** The formats present: `['png', 'chart', 'text']`. */
  formats(): string[]
}

/** An exception of the code, as E2B reports it. */
export interface ExecutionError {
  /** The exception's class (`ZeroDivisionError`), or `TimeoutError` when the run passed its timeout. */
  name: string
  value: string
  traceback: string
}

/** What one `runCode` produced (E2B's `Execution`). */
export interface Execution {
  /** Results in the order they came. */
  results: Result[]
  /** Output chunks as written; join with `''`. */
  logs: { stdout: string[]; stderr: string[] }
  error?: ExecutionError
  /** The run's number in its kernel, from 1. */
  executionCount?: number
  /** The text of the main result (the last expression's value), if any. */
  readonly text?: string
}

/** Options of `runCode()`. */
export interface RunCodeOptions {
  /** The kernel to run in; default the session's language. */
  language?: SessionLanguage
  /**
   * Interrupts the code after this long; the run then resolves with `error.name`
   * `TimeoutError` and the session lives on. Default the service's `timeoutMs` (60000).
   */
  timeoutMs?: number
  /** Environment variables for this run only. */
  env?: Record<string, string>
  /** Aborting interrupts the code and rejects with an `AbortError` (`code: 'ABORT_ERR'`); the session lives on. */
  signal?: AbortSignal
  /** Called with each chunk as it is written; a callback that throws interrupts the run, which rejects with `ERR_CALLBACK`. */
  onStdout?: (output: OutputMessage) => void
  onStderr?: (output: OutputMessage) => void
  /** Called with each result as it comes. */
  onResult?: (result: Result) => void
  /** Called with the code's exception. */
  onError?: (error: ExecutionError) => void
}

/** A path of a session's sandbox. */
export interface EntryInfo {
  name: string
  /** Absolute: `/home/user/...`. */
  path: string
  type: 'file' | 'dir' | 'symlink' | 'other'
  size: number
}

/** A session's files: paths relative to its work dir (`/home/user`) or absolute within it. */
export interface SessionFiles {
  /** Writes a file (parents created, content replaced). */
  write(path: string, content: string | Uint8Array): Promise<EntryInfo>
  /** A file's content: a string (UTF-8) by default, a `Buffer` with `{ format: 'bytes' }`. Missing: `ERR_NOT_FOUND`. */
  read(path: string, options?: { format?: 'text' }): Promise<string>
  read(path: string, options: { format: 'bytes' }): Promise<Uint8Array>
  /** The entries of a directory (default the work dir). */
  list(dir?: string): Promise<EntryInfo[]>
}

/**
 * A long-lived sandbox whose kernels (one per language) keep their state between
 * `runCode` calls, as E2B's code interpreter does. It ends at `close()`, after
 * `idleTimeoutMs` without a call, at its `timeoutMs`, or with its service; later
 * calls reject with `ERR_CLOSED`, whose message says which.
 */
export interface Session {
  readonly id: string
  /** `namespaces` or `landlock` (local), `microvm` (e2b). */
  readonly isolation: 'namespaces' | 'landlock' | 'microvm'
  readonly backend: 'local' | 'e2b'
  readonly files: SessionFiles
  runCode(code: string, options?: RunCodeOptions): Promise<Execution>
  /** New kernels for every language (their state is lost); the sandbox and its files stay. */
  restart(): Promise<void>
  /** Ends the session; resolves once its sandbox is gone. */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** The `code` of every Error e2b-native throws or rejects with. */
export type E2BNativeErrorCode =
  | 'ERR_INVALID_ARG'
  | 'ERR_NOT_CONFIGURED'
  | 'ERR_ISOLATION_UNAVAILABLE'
  | 'ERR_INTERPRETER_UNAVAILABLE'
  | 'ERR_E2B_AUTH'
  | 'ERR_E2B_RATE_LIMIT'
  | 'ERR_E2B_UNAVAILABLE'
  | 'ERR_CLOSED'
  | 'ERR_NOT_FOUND'
  | 'ERR_CALLBACK'
  | 'ERR_LISTEN'
  | 'ERR_UNSUPPORTED_PLATFORM'
  | 'ERR_NATIVE_BINDING'
  | 'ABORT_ERR'
  | 'ERR_INTERNAL'

/** Failures of the system, not of the code, reject with an `Error` carrying one of the codes above. */
export interface E2BNativeError extends Error {
  code: E2BNativeErrorCode
}

export declare class E2BService {
  /** Never throws without options; throws `ERR_INVALID_ARG` for malformed ones. */
  constructor(options?: ServiceOptions)
  /** Runs `code` in a fresh sandbox that is destroyed before the promise settles. */
  executeCode(code: string, language?: Language, options?: ExecuteOptions): Promise<CodeExecutionResult>
  executePython(code: string, options?: ExecuteOptions): Promise<CodeExecutionResult>
  executeNode(code: string, options?: ExecuteOptions): Promise<CodeExecutionResult>
  /**
   * Checks every spec (`ERR_INVALID_ARG` naming a bad one), installs `packages`, then runs
   * `code` with them; a failed install resolves with `error: "PackageInstallError"`.
   * Local: installed in a sandbox through a registry-only proxy, cached per exact set.
   */
  executeWithPackages(
    code: string,
    packages: string[],
    language?: 'python' | 'node',
    options?: ExecuteOptions,
  ): Promise<CodeExecutionResult>
  /**
   * A session: a sandbox kept alive with one kernel per language, whose state persists
   * across `runCode` calls. Without options: python, the constructor's limits, a
   * 5-minute idle timeout and a 1-hour lifetime.
   */
  createSession(options?: SessionOptions): Promise<Session>
  /** e2b: deletes sandboxes left by dead processes of this host; resolves to how many. */
  reapOrphans(): Promise<number>
  /** Each isolation layer and limit of the local backend on this host (`npm run doctor` prints it). */
  static diagnose(): Promise<{ ok: boolean; checks: DiagnosticCheck[] }>
  /** How the local backend's warm pool stands. */
  poolStats(): PoolStats
  /**
   * Kills every sandbox this service still runs (calls and sessions) and empties its
   * warm pool; resolves when all are gone. Later calls reject with `ERR_CLOSED`.
   */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** The shared instance, as the replaced module exported it. */
export declare const e2bService: E2BService

/** How many sandboxes this process has running calls in right now (all services); warm-pool sandboxes waiting for a call are not counted. */
export declare function liveSandboxes(): number

/**
 * Host pids of the helper processes of the warm-pool sandboxes waiting for a call (all services), each
 * sandbox's processes descending from its helper; and of the pools' Python fork servers, whose children
 * are sandboxes' helpers (waiting or running a call).
 */
export declare function pooledSandboxPids(): number[]

/** Options of `startServer` (the CLI, `npx e2b-native serve`, takes the same as flags). */
export interface ServerOptions {
  /** Address to listen on. Default `127.0.0.1`. */
  host?: string
  /** Port; `0` picks a free one. Default 3000. */
  port?: number
  /** The API key clients must send (`e2b_` + hex, as the SDKs require). Default: one is generated. */
  apiKey?: string
  /** More accepted API keys. */
  apiKeys?: string[]
  /** Sandboxes running at once; past it creation answers 429. Default 20. */
  maxSandboxes?: number
  /** The longest sandbox timeout accepted, in ms. Default 3600000 (1 hour). */
  maxTimeoutMs?: number
  /** The longest a sandbox lives from its start, in ms: later timeouts are cut to it. Default 86400000 (24 hours). */
  maxLifetimeMs?: number
  /** The largest request body except uploads, in bytes; beyond it 413. Default 16 MiB. */
  maxBodyBytes?: number
  /** The largest upload to `files.write`, in bytes; beyond it 413. Default 1 GiB. */
  maxUploadBytes?: number
  /** The largest single result, display or error of `runCode`, in bytes; a larger one is dropped (error `ResultTooLarge`). Default 16 MiB. */
  maxResultBytes?: number
  /** Time a connection has to send a request's head, in ms; then it is closed. Default 15000. */
  headerTimeoutMs?: number
  /** Connections open at once; beyond it a connection is answered 503. Default 512. */
  maxConnections?: number
  /** Host names the debug sandbox answers to besides `localhost` and IP addresses (DNS rebinding). */
  allowedHosts?: string[]
  /** Limits of each sandbox, as for `E2BService` (memory, processes and disk for the whole sandbox). */
  limits?: Limits
  /** Interpreter binaries; by default found on PATH (shims skipped). */
  interpreters?: Partial<Record<Language, string>>
  /** Serve the SDKs' debug mode (`E2B_DEBUG=true`, sandbox `debug_sandbox_id`). Default: when listening on loopback; on another host, only with `exposeDebugSandbox`. */
  debugSandbox?: boolean
  /** With `debugSandbox: true`, serve the keyless debug sandbox on a non-loopback `host` all the same. Default false. */
  exposeDebugSandbox?: boolean
  /** Log lines on stderr; `debug` adds one per request. Default `warn` (the CLI: `info`). */
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'silent'
  /** The sandboxes' tier, as for `E2BService` (`auto` by default). */
  isolation?: 'auto' | 'namespaces' | 'landlock'
}

/** A running `e2b-native serve`. */
export interface E2BServer {
  /** `http://host:port`: both `E2B_API_URL` and `E2B_SANDBOX_URL`. */
  url: string
  /** The first accepted API key (`E2B_API_KEY`). */
  apiKey: string
  apiKeys: string[]
  /** Kills every sandbox, stops listening, resolves once they are gone. */
  close(): Promise<void>
}

/**
 * Starts E2B's API (control plane, envd, code interpreter) on one port over local
 * sandboxes, for the official E2B SDKs. Rejects with `ERR_INVALID_ARG`,
 * `ERR_ISOLATION_UNAVAILABLE` (no sandbox can be built here) or `ERR_LISTEN`.
 */
export declare function startServer(options?: ServerOptions): Promise<E2BServer>
