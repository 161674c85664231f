#!/usr/bin/env node
// `npm run test:invisible`: the differential harness in full. What `__test__/invisible.spec.ts`
// runs in a sample, on every Node version memtrace supports, with the defaults and with --lines:
// test262's directories for functions, classes, generators, async, arguments, eval, try, tagged
// templates, calls, `new`, `super` and Function.prototype.toString, whole; the 17-package corpus.
//
//   node scripts/invisible.mjs [--node 24] [--test262 <checkout>] [--concurrency 2]
//
// test262 comes from a checkout (`--test262`, or $TEST262_DIR), else it is cloned at the pinned
// commit into memtrace's test cache (which needs git and github.com). Exits 1 when any run differs.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

import { NODES, nodesToTest } from './nodes.mjs'
import { compare262, isTest262, listTests } from './invisible/test262.mjs'
import { differences, twice } from './invisible/twice.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const corpus = join(root, '__test__', 'fixtures', 'invisible')

/** test262 at this commit (2026-08-07), the one `__test__/fixtures/test262` was sampled from. */
const TEST262 = 'be13516fb6441b950ba8a3df97eb34062c186972'
const DIRECTORIES = [
  'test/language/expressions/function',
  'test/language/statements/function',
  'test/language/expressions/arrow-function',
  'test/language/statements/class',
  'test/language/expressions/class',
  'test/language/statements/generators',
  'test/language/expressions/generators',
  'test/language/statements/async-function',
  'test/language/expressions/async-function',
  'test/language/expressions/async-arrow-function',
  'test/language/statements/async-generator',
  'test/language/expressions/async-generator',
  'test/language/arguments-object',
  'test/language/eval-code',
  'test/language/statements/try',
  'test/language/expressions/tagged-template',
  'test/language/expressions/call',
  'test/language/expressions/new',
  'test/language/expressions/super',
  'test/built-ins/Function/prototype/toString',
]

const { values } = parseArgs({
  options: {
    node: { type: 'string' },
    test262: { type: 'string' },
    concurrency: { type: 'string', default: '2' },
    help: { type: 'boolean' },
  },
})
if (values.help) {
  console.log('Usage: node scripts/invisible.mjs [--node <majors>] [--test262 <checkout>] [--concurrency <n>]')
  process.exit(0)
}
const concurrency = Number(values.concurrency)
if (!Number.isInteger(concurrency) || concurrency < 1) {
  console.error(`memtrace invisible: --concurrency must be a whole number of at least 1, got ${JSON.stringify(values.concurrency)}`)
  process.exit(2)
}
const known = NODES.map((n) => n.version.split('.')[0])
const majors = values.node?.split(',').map((m) => m.trim())
for (const major of majors ?? []) {
  if (!known.includes(major)) {
    console.error(`memtrace invisible: --node must name majors from ${known.join(', ')}, got ${JSON.stringify(major)}`)
    process.exit(2)
  }
}

const say = (text) => console.error(`memtrace invisible: ${text}`)

/** test262's checkout: the one named, or a clone at the pinned commit in the test cache. */
function test262Checkout() {
  const named = values.test262 ?? process.env.TEST262_DIR
  if (named) {
    if (!isTest262(named)) {
      console.error(`memtrace invisible: ${named} is not a test262 checkout (no harness/assert.js and test/language)`)
      process.exit(2)
    }
    return named
  }
  const cache = process.env.MEMTRACE_TEST_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'memtrace-test')
  const dir = join(cache, `test262-${TEST262.slice(0, 12)}`)
  if (isTest262(dir)) return dir
  say(`cloning tc39/test262 at ${TEST262} into ${dir}`)
  mkdirSync(dir, { recursive: true })
  const git = (...args) => spawnSync('git', args, { cwd: dir, stdio: 'inherit' }).status === 0
  const cloned =
    git('init', '-q') &&
    git('remote', 'add', 'origin', 'https://github.com/tc39/test262.git') &&
    git('fetch', '-q', '--depth', '1', 'origin', TEST262) &&
    git('checkout', '-q', 'FETCH_HEAD')
  if (!cloned || !existsSync(join(dir, 'harness', 'assert.js'))) {
    console.error(`memtrace invisible: cannot clone test262; give a checkout with --test262 <dir> or TEST262_DIR`)
    process.exit(2)
  }
  return dir
}

const checkout = test262Checkout()
const files = listTests(checkout, DIRECTORIES)
const failures = []
for (const { version, binary } of nodesToTest(majors, say)) {
  say(`Node ${version}: the corpus of 17 packages`)
  const checks = [
    ['texts', [], ['corpus.mjs', 'texts']],
    ['texts, --lines', ['--lines'], ['corpus.mjs', 'texts']],
    ['stacks', [], ['corpus.mjs', 'stacks']],
    ['stacks, --lines', ['--lines'], ['corpus.mjs', 'stacks']],
    ['weak references', [], ['--expose-gc', 'corpus.mjs', 'weak']],
    ['inferred names, --no-native-calls', ['--no-native-calls'], ['--allow-natives-syntax', 'corpus.mjs', 'names']],
  ]
  for (const [name, options, args] of checks) {
    const { untraced, traced } = twice({ node: binary, args, options, cwd: corpus })
    const same = untraced.status === traced.status && untraced.stdout === traced.stdout && untraced.stderr === traced.stderr
    say(`  ${same ? 'same' : 'DIFFERENT'}: ${name}`)
    if (!same) failures.push(`Node ${version}, ${name}:\n${differences(untraced.stdout + untraced.stderr, traced.stdout + traced.stderr)}`)
  }
  say(`Node ${version}: test262, ${files.length} files, both modes where a test runs in both`)
  const started = Date.now()
  const { results, differ } = await compare262({
    root: checkout,
    files,
    node: binary,
    both: true,
    concurrency,
    progress: (done, total) => {
      if (done % 500 === 0 || done === total) say(`  ${done} of ${total} runs (${Math.round((Date.now() - started) / 1000)} s)`)
    },
  })
  say(`  ${results.length} runs, ${results.filter((r) => r.untraced.passed).length} pass untraced, ${differ.length} end otherwise traced`)
  for (const d of differ) failures.push(`Node ${version}, test262 ${d.name}: untraced ${d.untraced.ended}; traced ${d.traced.ended}`)
}

console.error('')
if (failures.length) {
  for (const failure of failures) console.error(failure)
  say(`FAILED: ${failures.length} difference(s)`)
  process.exit(1)
}
say('passed: every run ended the same traced as untraced')
