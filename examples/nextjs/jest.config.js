// Jest as a Next.js app sets it up: next/jest compiles TypeScript with SWC and
// loads next.config and .env files. e2b-native needs the node environment.
const nextJest = require('next/jest')

const createJestConfig = nextJest({ dir: __dirname })

module.exports = createJestConfig({
  testEnvironment: 'node',
  testMatch: ['<rootDir>/__tests__/**/*.test.ts'],
  testTimeout: 30000,
})
