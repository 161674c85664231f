// `npm run demo`: traces the example program with `memtrace run`, then reads its log with
// `memtrace report`, as a table and as an HTML page.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const memtrace = join(here, '..', 'dist', 'cli', 'main.js')
const output = join(here, 'output')
rmSync(output, { recursive: true, force: true })
mkdirSync(output)

function run(...args) {
  console.log(`\n$ memtrace ${args.join(' ')}`)
  const result = spawnSync(process.execPath, [memtrace, ...args], { stdio: 'inherit' })
  if (result.status !== 0) process.exit(result.status ?? 1)
}

run('run', '--log-dir', output, '--message', 'memtrace demo', join(here, 'app', 'index.mjs'))
const log = join(output, readdirSync(output).find((name) => name.endsWith('.log')))
run('report', '--top', '5', log, '--html', join(output, 'report.html'))
console.log(`\nThe log is ${log}; open ${join(output, 'report.html')} in a browser to see it drawn.`)
