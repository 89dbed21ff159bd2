'use strict'
// What latency.js and sustained.js measure alike: one program per language
// beside its raw spawn, executions timed sequentially or N at a time, and the
// CPU they cost.
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')

const N = Number(process.env.BENCH_N || 200)

// [language, code, the raw interpreter, its arguments]
const PROGRAMS = [
  ['python', 'print(1)', '/usr/bin/python3', ['-u', '-c', 'print(1)']],
  ['node', 'console.log(1)', process.execPath, ['-e', 'console.log(1)']],
  ['bash', 'echo 1', '/bin/bash', ['-c', 'echo 1']],
]

const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK']).toString())

// Busy CPU time of the whole machine, ms (all cores, from /proc/stat): what
// an execution costs wherever it runs (host, helper, sandbox, the kernel's
// deferred work such as namespace teardown), and whatever else the machine runs.
function machineBusyMs() {
  const [user, nice, system, , , irq, softirq] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number)
  return (user + nice + system + irq + softirq) * TICK_MS
}

// This process's CPU time plus its reaped children's (helpers, inits,
// interpreters), ms: steadier than the machine's on a shared host.
function ownAndChildrenMs() {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8')
  const [utime, stime, cutime, cstime] = stat.slice(stat.lastIndexOf(')') + 2).split(' ').slice(11, 15).map(Number)
  return (utime + stime + cutime + cstime) * TICK_MS
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Waits until `svc`'s `language` lane holds `size` ready sandboxes. */
async function refilled(svc, language, size) {
  for (;;) {
    const lane = svc.poolStats()[language]
    if (!lane || (lane.ready === size && lane.starting === 0)) return
    await sleep(1)
  }
}

/**
 * Runs `fn` N times, `concurrency` at a time, after 5 warm-up calls.
 * `pace`, awaited before each call and not timed, lets the pool refill; a
 * paced row's CPU includes the refills it waited for (all the work).
 * CPU per execution is given two ways: `machineMs` and `ownMs`.
 */
async function measure(fn, concurrency, pace) {
  for (let i = 0; i < 5; i++) await fn()
  if (pace) await pace()
  const times = []
  let next = 0
  let paused = 0n
  const machine = machineBusyMs()
  const own = ownAndChildrenMs()
  const started = process.hrtime.bigint()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < N) {
        if (pace) {
          const p = process.hrtime.bigint()
          await pace()
          paused += process.hrtime.bigint() - p
        }
        const t = process.hrtime.bigint()
        await fn()
        times.push(Number(process.hrtime.bigint() - t) / 1e6)
      }
    }),
  )
  const seconds = Number(process.hrtime.bigint() - started - paused) / 1e9
  times.sort((a, b) => a - b)
  return {
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    perSecond: N / seconds,
    machineMs: (machineBusyMs() - machine) / N,
    ownMs: (ownAndChildrenMs() - own) / N,
  }
}

module.exports = { N, PROGRAMS, measure, refilled, sleep }
