// memtrace's own source map of the code it instruments, chained with the code's own: where Node
// reads maps, stack traces and coverage come out as they do untraced.
import { cpSync, mkdtempSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

import test from 'ava'

import { fixtures, node, registerPath, root, tempDir } from './support/index.js'

const stacks = join(fixtures, 'stacks')

/** Runs `args` untraced and traced; what each printed, all of it. */
function both(args: string[], cwd = root) {
  const plain = node(args, { cwd })
  const traced = node(['--require', registerPath, ...args], { cwd })
  return { plain, traced, output: (ran: typeof plain) => ran.stdout + ran.stderr }
}

test('stack traces under --enable-source-maps are as untraced: plain JavaScript, tsx, and tsc output with its .map file', (t) => {
  const project = tempDir('stacks-tsc')
  cpSync(join(stacks, 'app.ts'), join(project, 'app.ts'))
  const tsc = node([join(root, 'node_modules', 'typescript', 'lib', 'tsc.js'), '--sourceMap', '--target', 'es2022', '--module', 'commonjs', '--outDir', join(project, 'out'), join(project, 'app.ts')])
  t.is(tsc.status, 0, tsc.stdout)
  for (const args of [
    ['--enable-source-maps', join(stacks, 'plain.cjs')],
    ['--import', 'tsx', join(stacks, 'app.ts')],
    ['--enable-source-maps', join(project, 'out', 'app.js')],
  ]) {
    const { plain, traced, output } = both(args)
    t.is(plain.status, 0, plain.stderr)
    // Each of the three errors, with frames in the program's own source.
    t.is(output(plain).match(/^\w*Error: /gm)?.length, args[1].endsWith('.cjs') ? 2 : 3, output(plain))
    t.regex(output(plain), /at Square\.area \(\S+\.(ts|cjs):\d+:\d+\)/)
    t.is(output(traced), output(plain), args.join(' '))
  }
})

test('c8 reports the same coverage traced and untraced: statements, branches, functions, lines', (t) => {
  const project = join(fixtures, 'coverage')
  const c8 = join(root, 'node_modules', 'c8', 'bin', 'c8.js')
  const report = (args: string[]) => {
    const work = mkdtempSync(join(tempDir('c8'), 'run-'))
    const run = node([c8, '--reporter=text', '--temp-directory', join(work, 'tmp'), '--reports-dir', join(work, 'report'), 'node', ...args], { cwd: project })
    t.is(run.status, 0, run.stderr)
    return run.stdout
  }
  const plain = report(['main.js'])
  // The run covers some of lib.js: an unused function, branches taken and not.
  t.regex(plain, /lib\.js +\| +[\d.]+ \| +[\d.]+ \| +[\d.]+ \| +[\d.]+ \| +[\d,-]+/)
  t.notRegex(plain, /lib\.js +\| +100 /)
  t.is(report(['--require', registerPath, 'main.js']), plain)
  t.is(readFileSync(join(project, 'lib.js'), 'utf8').includes('__mt$'), false)
})
