// memtrace as users get it: `npm pack` of this checkout and of its platform binary, installed
// into a project from disk, with nothing fetched.
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { platformName } from '../../dist/native.js'
import { root } from './index.js'

export const platform = platformName()

const npm = (cwd: string, ...args: string[]) =>
  execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8' })

/** `npm pack` of `dir` into `into`; returns the tarball's path. */
function pack(dir: string, into: string, ...options: string[]): string {
  const name = npm(dir, 'pack', '--pack-destination', into, ...options).trim().split('\n').pop()!
  return join(into, name)
}

let packed: { main: string; platform: string; dependencies: string[] } | null = null

/** The tarballs, packed once per test file. */
export function tarballs(): NonNullable<typeof packed> {
  if (packed) return packed
  const work = mkdtempSync(join(tmpdir(), 'memtrace-pack-'))
  const binary = mkdtempSync(join(tmpdir(), `memtrace-${platform}-`))
  copyFileSync(join(root, 'npm', platform, 'package.json'), join(binary, 'package.json'))
  copyFileSync(join(root, `memtrace.${platform}.node`), join(binary, `memtrace.${platform}.node`))
  // memtrace's own dependencies, packed from node_modules as `npm ci` installed them from the
  // lockfile. `npm install --offline` of the package alone would need their registry metadata,
  // which `npm ci` never puts in the cache; given beside it, they are all it needs.
  const lock = JSON.parse(readFileSync(join(root, 'node_modules', '.package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; optional?: boolean }>
  }
  const dependencies = Object.entries(lock.packages)
    .filter(([path, entry]) => path.startsWith('node_modules/') && !entry.dev && !entry.optional)
    // As installed: a package's `prepare` would build it again, with tools it does not ship.
    .map(([path]) => pack(join(root, path), work, '--ignore-scripts'))
  packed = { main: pack(root, work), platform: pack(binary, work), dependencies }
  return packed
}

/**
 * A new project (`packageJson`, or a bare one) with `tarballs` and memtrace's dependencies
 * installed from disk; returns its directory.
 */
export function project(tarballsToInstall: string[], packageJson: object = { name: 'user-project', version: '1.0.0', private: true }): string {
  const dir = mkdtempSync(join(tmpdir(), 'memtrace-project-'))
  writeFileSync(join(dir, 'package.json'), JSON.stringify(packageJson))
  npm(dir, 'install', '--offline', ...tarballsToInstall, ...tarballs().dependencies)
  return dir
}
