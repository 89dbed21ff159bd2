import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

/** @type {import('next').NextConfig} */
const nextConfig = {
  // e2b-native is a native addon (a .node file and the e2b-sandbox helper beside
  // it): Next.js must load it from node_modules at run time, not bundle it.
  serverExternalPackages: ['e2b-native'],
  // This folder is the app's root, even inside the e2b-native repository.
  turbopack: { root: dirname(fileURLToPath(import.meta.url)) },
}

export default nextConfig
