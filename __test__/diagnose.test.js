'use strict'
// diagnose() and `npm run doctor` name the tier calls get, and every row that
// is not active says what it costs or what to change: never weaker silently.
const { execFileSync } = require('child_process')
const path = require('path')
const { E2BService } = require('..')
const { tierOf } = require('./helpers')

let svc
let tier
beforeAll(async () => {
  svc = new E2BService({ backend: 'local' })
  tier = await tierOf(svc)
})
afterAll(() => svc.close())

const row = (checks, layer) => checks.find((c) => c.layer === layer)

test('the tier row names the tier a call runs in', async () => {
  const { ok, checks } = await E2BService.diagnose()
  expect(ok).toBe(true)
  const expected = tier === 'namespaces' ? 'active' : 'fallback'
  expect(row(checks, 'tier')).toMatchObject({ status: expected })
  expect(row(checks, 'tier').detail.startsWith(`${tier}:`)).toBe(true)
})

test('every row that is not active explains itself', async () => {
  const { checks } = await E2BService.diagnose()
  for (const c of checks.filter((c) => c.status !== 'active')) {
    expect(c.detail.length).toBeGreaterThan(10)
  }
  // A probe ran, so nothing about the sandbox's own process is unknown.
  for (const layer of ['capabilities', 'no_new_privs', 'seccomp']) {
    expect(row(checks, layer).status).toBe('active')
  }
})

test('without namespaces, the namespaces row says which change brings them back', async () => {
  const { checks } = await E2BService.diagnose()
  const namespaces = row(checks, 'namespaces')
  if (tier === 'namespaces') {
    expect(namespaces.status).toBe('active')
  } else {
    expect(namespaces.status).toBe('fallback')
    expect(namespaces.fix).toMatch(/sysctl|--security-opt|securityContext|apparmor/)
    expect(row(checks, 'tier').detail).toMatch(/\/proc/)
    expect(row(checks, 'memory limit').status).toBe('fallback')
  }
})

test('npm run doctor prints the tier and its verdict', () => {
  const out = execFileSync(process.execPath, [path.join(__dirname, '..', 'scripts', 'doctor.js')], {
    encoding: 'utf8',
  })
  expect(out).toMatch(new RegExp(`^(active|fallback) +tier +${tier}:`, 'm'))
  expect(out).toMatch(tier === 'namespaces' ? /can run here/ : new RegExp(`runs here in the ${tier} tier`))
})
