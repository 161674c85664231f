// The package as users get it: `npm pack`, installed into an empty project.
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import test from 'ava'

import { platformName } from '../dist/native.js'

const root = join(import.meta.dirname, '..')
const platform = platformName()
const npm = (cwd: string, ...args: string[]) =>
  execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8' })

/** `npm pack` of `dir` into `into`; returns the tarball's path. */
function pack(dir: string, into: string): string {
  const name = npm(dir, 'pack', '--pack-destination', into).trim().split('\n').pop()!
  return join(into, name)
}

const work = mkdtempSync(join(tmpdir(), 'memtrace-pack-'))
const mainTarball = pack(root, work)

/**
 * memtrace's own dependencies, packed from node_modules as `npm ci` installed them from the
 * lockfile. `npm install --offline` of the package alone would need their registry metadata,
 * which `npm ci` never puts in the cache; given beside it, they are all it needs.
 */
const lock = JSON.parse(readFileSync(join(root, 'node_modules', '.package-lock.json'), 'utf8')) as {
  packages: Record<string, { dev?: boolean; optional?: boolean }>
}
const dependencyTarballs = Object.entries(lock.packages)
  .filter(([path, entry]) => path.startsWith('node_modules/') && !entry.dev && !entry.optional)
  .map(([path]) => pack(join(root, path), work))

/** An empty project with `tarballs` (and memtrace's dependencies) installed from disk, nothing fetched. */
function project(...tarballs: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'memtrace-project-'))
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'user-project', version: '1.0.0', private: true }))
  npm(dir, 'install', '--offline', ...tarballs, ...dependencyTarballs)
  return dir
}

function platformTarball(): string {
  const dir = mkdtempSync(join(tmpdir(), `memtrace-${platform}-`))
  copyFileSync(join(root, 'npm', platform, 'package.json'), join(dir, 'package.json'))
  copyFileSync(join(root, `memtrace.${platform}.node`), join(dir, `memtrace.${platform}.node`))
  return pack(dir, work)
}

test('the packed package installs beside its platform binary and reads rss', (t) => {
  const dir = project(mainTarball, platformTarball())
  t.false(readdirSync(join(dir, 'node_modules', 'memtrace')).some((name) => name.endsWith('.node')))
  const out = execFileSync(process.execPath, ['-e', "const m = require('memtrace'); console.log(m.rss(), m.rssPeak())"], {
    cwd: dir,
    encoding: 'utf8',
  })
  const [now, peak] = out.trim().split(' ').map(Number)
  t.true(now > 1024 * 1024, out)
  t.true(peak >= now, out)
})

test('the installed package traces a program with its own memtrace command', (t) => {
  const dir = project(mainTarball, platformTarball())
  writeFileSync(join(dir, 'app.js'), 'function greet(name) { return `hello ${name}` }\nconsole.log(greet("package"))\n')
  const bin = join(dir, 'node_modules', '.bin', 'memtrace')
  const run = execFileSync(bin, ['run', '--d-rss-trigger', '0', '--log-dir', 'logs', 'app.js'], { cwd: dir, encoding: 'utf8', stdio: 'pipe' })
  t.is(run, 'hello package\n')
  const [log] = readdirSync(join(dir, 'logs'))
  const text = readFileSync(join(dir, 'logs', log), 'utf8')
  t.regex(text, /\nNEXT: 1 +\+1 +[\d.]+ +CALL +\S+app\.js +# +1 greet /)
  t.true(text.endsWith('EOF\n'))
})

test('without a binary for this platform, loading names the platform and the packages it looked for', (t) => {
  const dir = project(mainTarball)
  const error = t.throws(() =>
    execFileSync(process.execPath, ['-e', "require('memtrace')"], { cwd: dir, encoding: 'utf8', stdio: 'pipe' }),
  ) as Error & { stderr: string }
  t.regex(error.stderr, new RegExp(`memtrace could not load its native binary for ${platform}\\.`))
  t.regex(error.stderr, new RegExp(`memtrace\\.${platform}\\.node`))
  t.regex(error.stderr, new RegExp(`the package memtrace-${platform}`))
})
