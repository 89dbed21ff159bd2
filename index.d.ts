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
}

/** One language's warm pool. */
export interface PoolLaneStats {
  /** Sandboxes ready and waiting for a call. */
  ready: number
  /** Sandboxes being prepared. */
  starting: number
  /** Calls this pool has served warm. */
  served: number
}

export interface PoolStats {
  /** Sandboxes kept ready per language; 0 when the pool is off (or the backend is e2b). */
  size: number
  idleMs: number
  python?: PoolLaneStats
  node?: PoolLaneStats
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
  /** e2b: deletes sandboxes left by dead processes of this host; resolves to how many. */
  reapOrphans(): Promise<number>
  /** Each isolation layer and limit of the local backend on this host (`npm run doctor` prints it). */
  static diagnose(): Promise<{ ok: boolean; checks: DiagnosticCheck[] }>
  /** How the local backend's warm pool stands. */
  poolStats(): PoolStats
  /**
   * Kills every sandbox this service still runs and empties its warm pool; resolves
   * when all are gone. Later calls reject with `ERR_CLOSED`.
   */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** The shared instance, as the replaced module exported it. */
export declare const e2bService: E2BService

/** How many sandboxes this process has running calls in right now (all services); warm-pool sandboxes waiting for a call are not counted. */
export declare function liveSandboxes(): number

/** Host pids of the helper processes of the warm-pool sandboxes waiting for a call (all services); each sandbox's processes descend from its helper. */
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
  /** Limits of each sandbox, as for `E2BService` (memory, processes and disk for the whole sandbox). */
  limits?: Limits
  /** Interpreter binaries; by default found on PATH (shims skipped). */
  interpreters?: Partial<Record<Language, string>>
  /** Serve the SDKs' debug mode (`E2B_DEBUG=true`, sandbox `debug_sandbox_id`). Default: when listening on loopback. */
  debugSandbox?: boolean
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
