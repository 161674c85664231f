// test262 under memtrace: each test run untraced and traced (`memtrace run`, native calls and
// lines on, the defaults otherwise), each in a process of its own, and the outcomes compared. A
// traced program must not be able to tell: every test must end the same way both times, passing
// or failing, with the same error.
//
// The host (test262-host.cjs) runs a test's harness files as a classic script and the test from
// its own file, as a classic script through `vm` under the file's name (which memtrace
// instruments as it would a file Jest loads) or as an ES module. Tests that are neither strict nor
// sloppy only run in both modes (`modes: 'both'`), else sloppy only. Nothing but Node's own modules.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const host = join(here, 'test262-host.cjs')
const cli = join(here, '..', '..', 'dist', 'cli', 'main.js')

/** The `.js` tests under `dirs` (relative to `root`, test262's checkout), fixtures left out. */
export function listTests(root, dirs) {
  const found = []
  const walk = (path) => {
    if (statSync(path).isDirectory()) {
      for (const entry of readdirSync(path).sort()) walk(join(path, entry))
    } else if (path.endsWith('.js') && !path.includes('_FIXTURE')) {
      found.push(path)
    }
  }
  for (const dir of dirs) walk(join(root, dir))
  return found
}

/** What a test's front matter says: includes, flags and the negative expectation. */
export function frontMatter(source) {
  const yaml = /\/\*---([\s\S]*?)---\*\//.exec(source)?.[1] ?? ''
  const list = (key) => {
    const inline = new RegExp(`^${key}:\\s*\\[([^\\]]*)\\]`, 'm').exec(yaml)
    if (inline) return inline[1].split(',').map((s) => s.trim()).filter(Boolean)
    const block = new RegExp(`^${key}:\\s*\\n((?:\\s+-\\s*.+\\n?)+)`, 'm').exec(yaml)
    return block ? block[1].split('\n').map((s) => s.replace(/^\s*-\s*/, '').trim()).filter(Boolean) : []
  }
  const negative = /^negative:\s*\n\s+phase:\s*(\w+)\s*\n\s+type:\s*(\w+)/m.exec(yaml)
  return {
    includes: list('includes'),
    flags: list('flags'),
    negative: negative ? { phase: negative[1], type: negative[2] } : null,
  }
}

/** One way to run `file`: its prelude and test files in `work`, and how the host takes them. */
function prepare(root, file, strict, work) {
  const source = readFileSync(file, 'utf8')
  const { includes, flags, negative } = frontMatter(source)
  const module = flags.includes('module')
  const async = flags.includes('async')
  const raw = flags.includes('raw')
  const name = relative(root, file)
  const harness = raw ? [] : ['assert.js', 'sta.js', ...(async ? ['doneprintHandle.js'] : []), ...includes]
  const prelude = join(work, `${name}.${strict ? 'strict' : 'sloppy'}.prelude.js`)
  mkdirSync(dirname(prelude), { recursive: true })
  writeFileSync(prelude, harness.map((h) => readFileSync(join(root, 'harness', h), 'utf8')).join('\n'))
  let test = file
  if (!module) {
    test = join(work, `${name}.${strict ? 'strict' : 'sloppy'}.js`)
    writeFileSync(test, `${strict ? '"use strict";\n' : ''}${source}`)
  }
  return { name: `${name}${strict ? ' (strict)' : ''}`, args: [host, prelude, test, module ? 'module' : 'script', async ? '1' : '0'], negative, async }
}

/** The modes `file` runs in: its flags', or sloppy (and strict too with `both`). */
function modes(file, both) {
  const { flags } = frontMatter(readFileSync(file, 'utf8'))
  if (flags.includes('onlyStrict')) return [true]
  if (flags.includes('noStrict') || flags.includes('raw') || flags.includes('module')) return [false]
  return both ? [false, true] : [false]
}

function run(command, args, env) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
}

/** How a run ended, as one comparable value: passed or not, and the error it ended with. */
function outcome(prepared, ran) {
  const line = ran.stdout.split('\n').reverse().find((l) => l.startsWith('outcome '))
  if (!line) return { passed: false, ended: `no outcome (exit ${ran.code ?? ran.signal}): ${ran.stderr.trim().split('\n').slice(-3).join(' | ')}` }
  const { error, done, asyncFailure } = JSON.parse(line.slice('outcome '.length))
  const { negative, async } = prepared
  const passed = negative ? error?.name === negative.type : error === null && (!async || (done && asyncFailure === null))
  return { passed, ended: error ? `${error.name}: ${error.message}` : asyncFailure ? `async: ${asyncFailure}` : 'completed' }
}

/**
 * Runs `files` (under `root`) untraced and traced with `node`, `concurrency` at a time; calls
 * `progress(done, total)` as they end. Returns every run's outcomes, and those that differ.
 */
export async function compare262({ root, files, node = process.execPath, both = false, concurrency = 2, progress = () => {} }) {
  const work = mkdtempSync(join(tmpdir(), 'memtrace-test262-'))
  const jobs = files.flatMap((file) => modes(file, both).map((strict) => prepare(root, file, strict, work)))
  const results = []
  let next = 0
  let finished = 0
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]
      const untraced = outcome(job, await run(node, ['--expose-gc', ...job.args]))
      const logs = mkdtempSync(join(work, 'logs-'))
      const traced = outcome(job, await run(node, [cli, 'run', '--lines', '--log-dir', logs, '--', node, '--expose-gc', ...job.args]))
      rmSync(logs, { recursive: true, force: true })
      results.push({ name: job.name, untraced, traced })
      progress(++finished, jobs.length)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  rmSync(work, { recursive: true, force: true })
  results.sort((a, b) => a.name.localeCompare(b.name))
  const differ = results.filter((r) => r.untraced.passed !== r.traced.passed || r.untraced.ended !== r.traced.ended)
  return { results, differ }
}

/** test262's checkout at `dir`, if it is one. */
export function isTest262(dir) {
  return Boolean(dir) && existsSync(join(dir, 'harness', 'assert.js')) && existsSync(join(dir, 'test', 'language'))
}
