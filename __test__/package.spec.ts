// The package as users get it: `npm pack`, installed into an empty project.
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import test from 'ava'

import { platform, project, tarballs } from './support/install.js'

const { main: mainTarball, platform: platformTarball } = tarballs()

test('the packed package installs beside its platform binary and reads rss', (t) => {
  const dir = project([mainTarball, platformTarball])
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
  const dir = project([mainTarball, platformTarball])
  writeFileSync(join(dir, 'app.js'), 'function greet(name) { return `hello ${name}` }\nconsole.log(greet("package"))\n')
  const bin = join(dir, 'node_modules', '.bin', 'memtrace')
  const run = execFileSync(bin, ['run', '--d-rss-trigger', '0', '--log-dir', 'logs', 'app.js'], { cwd: dir, encoding: 'utf8', stdio: 'pipe' })
  t.is(run, 'hello package\n')
  const [log] = readdirSync(join(dir, 'logs'))
  const text = readFileSync(join(dir, 'logs', log), 'utf8')
  t.regex(text, /\nNEXT: 1 +\+1 +[\d.]+ +CALL +\S+app\.js +# +1 <module> /)
  t.regex(text, /\nNEXT: 2 +\+1 +[\d.]+ +CALL +\S+app\.js +# +1 greet /)
  t.true(text.endsWith('EOF\n'))
})

test('without a binary for this platform, loading names the platform and the packages it looked for', (t) => {
  const dir = project([mainTarball])
  const error = t.throws(() =>
    execFileSync(process.execPath, ['-e', "require('memtrace')"], { cwd: dir, encoding: 'utf8', stdio: 'pipe' }),
  ) as Error & { stderr: string }
  t.regex(error.stderr, new RegExp(`memtrace could not load its native binary for ${platform}\\.`))
  t.regex(error.stderr, new RegExp(`memtrace\\.${platform}\\.node`))
  t.regex(error.stderr, new RegExp(`the package memtrace-${platform}`))
})
