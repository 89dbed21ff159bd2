'use strict'
// Host-side observations for the tests: what a leaked sandbox would leave behind.
const fs = require('node:fs')
const os = require('node:os')
const { pooledSandboxPids } = require('..')

/**
 * Pids of every live descendant of `root` (default: this process), but the
 * warm pools' sandboxes waiting for a call (they belong to no call; each one
 * serves exactly one and is then destroyed — see pool.test.js).
 */
function descendants(root = process.pid) {
  const children = new Map()
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = statOf(entry)
    if (!stat || stat.state === 'Z') continue // gone, or a zombie: holds nothing
    if (!children.has(stat.ppid)) children.set(stat.ppid, [])
    children.get(stat.ppid).push(Number(entry))
  }
  // Asked after reading /proc: a pooled helper seen there is registered by now.
  const pooled = new Set(pooledSandboxPids())
  const found = []
  const queue = [root]
  while (queue.length) {
    const parent = queue.pop()
    for (const child of children.get(parent) || []) {
      // A fork server is the pool's; the helpers it forked are not, until pooled.
      if (pooled.has(child) && isForkServer(child, parent)) queue.push(child)
      if (pooled.has(child)) continue
      found.push(child)
      queue.push(child)
    }
  }
  return found
}

/** `pid`'s state and parent, from /proc/<pid>/stat; null once it has exited. */
function statOf(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    // "pid (comm) state ppid ...": comm may hold anything but the last ')'.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return { state, ppid: Number(ppid) }
  } catch {
    return null
  }
}

/** A pool's fork server; the helpers it forks share its command line, not its parent. */
function isForkServer(pid, parent) {
  const cmdline = (p) => {
    try {
      return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8')
    } catch {
      return ''
    }
  }
  return cmdline(pid).includes('_e2b_zygote') && !cmdline(parent).includes('_e2b_zygote')
}

/** The fork servers of this process's pools. */
function forkServerPids() {
  return pooledSandboxPids().filter((pid) => statOf(pid)?.ppid === process.pid && isForkServer(pid, process.pid))
}

/** Pids whose command line contains `marker`. */
function processesWith(marker) {
  const found = []
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) found.push(Number(entry))
    } catch {
      // exited while we looked
    }
  }
  return found
}

/** Pids whose command line, its arguments joined by spaces, contains `text` (`sleep 123` as a shell's child runs it). */
function commandsWith(text) {
  const found = []
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').includes(text)) found.push(Number(entry))
    } catch {
      // exited while we looked
    }
  }
  return found
}

function mountCount() {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n').length
}

/**
 * Entries in the temp dir a sandbox may leave, but those of the warm pools'
 * sandboxes (their rooms, `e2b-native-room-<helper pid>-…`, where namespaces
 * are refused), and rooms not yet named after their helper: a pool makes
 * one at any moment, and names it, or removes it, as its helper starts.
 */
function tmpEntries() {
  const pooled = new Set(pooledSandboxPids())
  return fs
    .readdirSync(os.tmpdir())
    .filter((e) => e.startsWith('e2b'))
    .filter((e) => !/^e2b-native-room-[0-9a-f]{12}$/.test(e))
    .filter((e) => !pooled.has(Number((/^e2b-native-room-(\d+)-/.exec(e) || [])[1])))
    .sort()
}

/**
 * What a leak would change: processes, mounts, temp entries. A
 * footprint's `tmp` lists names: a previous test's late clean-up may
 * remove entries meanwhile; a leak is an entry that was not there.
 */
function hostFootprint() {
  return { processes: descendants().length, mounts: mountCount(), tmp: tmpEntries() }
}

/** What footprint `after` has more than `before`: processes, mounts, the temp entries it adds. */
function footprintGrowth(before, after) {
  const more = (key) => Math.max(0, after[key] - before[key])
  return { processes: more('processes'), mounts: more('mounts'), tmp: after.tmp.filter((e) => !before.tmp.includes(e)) }
}

/** Polls `probe` until it returns true or `ms` pass; returns the last value. */
async function eventually(probe, ms = 3000) {
  const until = Date.now() + ms
  let value = probe()
  // A promise is always truthy: an async probe would pass at once.
  if (value instanceof Promise) throw new TypeError('eventually() takes a synchronous probe')
  while (!value && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 20))
    value = probe()
  }
  return value
}

/**
 * The isolation tier `svc`'s sandboxes get here: `namespaces`, or `landlock`
 * where namespaces are refused (a default container). Tests of promises only
 * the full tier makes check what the other tier promises instead (SECURITY.md).
 */
async function tierOf(svc) {
  return (await svc.executeCode('true', 'bash')).isolation
}

/** `pids` as `pid ppid state command line` lines: what a leak's failure shows. */
function describeProcesses(pids) {
  return pids.map((pid) => {
    const stat = statOf(pid)
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').slice(0, 100)
      if (stat) return `${pid} ${stat.ppid} ${stat.state} ${cmdline}`
    } catch {
      // exited while we looked
    }
    return `${pid} (gone)`
  })
}

module.exports = { tierOf, descendants, forkServerPids, describeProcesses, processesWith, commandsWith, hostFootprint, footprintGrowth, eventually }
