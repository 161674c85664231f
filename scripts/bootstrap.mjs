#!/usr/bin/env node
// Brings a checkout to a runnable state: installs dependencies, builds the native addon and
// compiles the TypeScript, each only when missing or older than its inputs. It runs before
// `npm ci`, so it may use nothing but Node's own modules.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

/** Newest modification time among the files under `paths` (directories are walked). */
function newest(paths) {
  let time = 0
  for (const path of paths) {
    const full = join(root, path)
    if (!existsSync(full)) continue
    const stat = statSync(full)
    if (stat.isDirectory()) {
      for (const entry of readdirSync(full)) time = Math.max(time, newest([join(path, entry)]))
    } else {
      time = Math.max(time, stat.mtimeMs)
    }
  }
  return time
}

/** Oldest modification time among `paths`, or 0 when one of them is missing. */
function oldest(paths) {
  let time = Infinity
  for (const path of paths) {
    const full = join(root, path)
    if (!existsSync(full)) return 0
    time = Math.min(time, statSync(full).mtimeMs)
  }
  return time
}

function run(what, command, args) {
  console.error(`memtrace bootstrap: ${what}`)
  execFileSync(command, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' })
}

if (oldest(['node_modules/.package-lock.json']) < newest(['package-lock.json'])) {
  run('installing dependencies (npm ci)', npm, ['ci', '--no-audit', '--no-fund'])
}

const addons = readdirSync(root).filter((name) => /^memtrace\..+\.node$/.test(name))
const rustInputs = ['Cargo.toml', 'Cargo.lock', 'crates']
if (addons.length === 0 || oldest(addons) < newest(rustInputs)) {
  run('building the native addon (napi build --release)', npm, ['run', '--silent', 'build:native'])
}

if (oldest(['dist/index.js']) < newest(['src', 'tsconfig.json', 'index.d.ts'])) {
  run('compiling TypeScript (tsc)', npm, ['run', '--silent', 'build:ts'])
}
