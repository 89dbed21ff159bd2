// E2B's own code-interpreter tests (tests/, from e2b-dev/code-interpreter, see
// README.md), run by __test__/e2b-upstream.test.js against `e2b-native serve`.
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    globals: false,
    testTimeout: 60000,
    environment: 'node',
    maxWorkers: 2,
  },
})
