// The README's examples, taken from README.md itself and run as written, in order, in a project
// that has memtrace installed from its packed tarball and stand-ins for the programs they name
// (fixtures/readme). An example is the fenced block after a comment:
//
//   <!-- example run -->                 each line of the sh block is a command
//   <!-- example file=NAME run="CMD" node=24 -->
//                                        the block is the file NAME, then CMD runs (on Node >= 24)
//
// `$PID` in a command is the pid of a Node process started for it, alive for a few seconds.
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import test from 'ava'

import { fixtures, root } from './support/index.js'
import { project, tarballs } from './support/install.js'

interface Example {
  /** Its line in README.md, for messages. */
  line: number
  /** A file example: its name and contents. */
  file?: { name: string; body: string }
  /** The lowest Node major it runs on. */
  node?: number
  /** The commands: the sh block's lines, or a file example's `run`. */
  commands: string[]
}

function examples(text: string): Example[] {
  const found: Example[] = []
  for (const match of text.matchAll(/<!-- example (.*?) -->\n```(\w*)\n([\s\S]*?)\n```/g)) {
    const [, attributes, language, body] = match
    const line = text.slice(0, match.index).split('\n').length
    const attribute = new Map([...attributes.matchAll(/(\w+)=("[^"]*"|\S+)/g)].map(([, name, value]) => [name, value.replace(/^"|"$/g, '')]))
    const name = attribute.get('file')
    if (!name && language !== 'sh') throw new Error(`README.md:${line}: an example is a file=… or an sh block`)
    const run = attribute.get('run')
    found.push({
      line,
      file: name ? { name, body } : undefined,
      node: attribute.has('node') ? Number(attribute.get('node')) : undefined,
      commands: name ? (run ? [run] : []) : body.split('\n').filter((command) => command.trim() && !command.trim().startsWith('#')),
    })
  }
  return found
}

const readme = readFileSync(join(root, 'README.md'), 'utf8')

test('the README has examples of every command and of the API', (t) => {
  const all = examples(readme).flatMap((e) => e.commands).join('\n')
  for (const words of ['memtrace run', 'memtrace report', 'memtrace monitor', '--import memtrace/register', '--require memtrace/register']) {
    t.true(all.includes(words), words)
  }
})

test('every example in the README runs as written', async (t) => {
  const { main, platform } = tarballs()
  const dir = project([main, platform], JSON.parse(readFileSync(join(fixtures, 'readme', 'package.json'), 'utf8')))
  cpSync(join(fixtures, 'readme'), dir, { recursive: true })
  // tsx and the test runners, as the project's own dev dependencies would be (each finds its own
  // dependencies from where it is), with their commands where npx looks.
  for (const [name, bin] of [['tsx', null], ['ava', 'entrypoints/cli.mjs'], ['jest', 'bin/jest.js'], ['vitest', 'vitest.mjs']] as const) {
    symlinkSync(join(root, 'node_modules', name), join(dir, 'node_modules', name))
    if (bin) symlinkSync(join('..', name, bin), join(dir, 'node_modules', '.bin', name))
  }
  const major = Number(process.versions.node.split('.')[0])
  let env: NodeJS.ProcessEnv = { ...process.env }
  let ran = 0
  for (const example of examples(readme)) {
    if (example.node && major < example.node) {
      t.log(`README.md:${example.line} needs Node ${example.node}: not run on ${process.version}`)
      continue
    }
    if (example.file) writeFileSync(join(dir, example.file.name), `${example.file.body}\n`)
    for (const command of example.commands) {
      if (/--pid \$PID/.test(command)) {
        // Something to watch: a process that lives a few seconds.
        const watched = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 3000)'], { stdio: 'ignore' })
        env = { ...env, PID: String(watched.pid) }
      }
      const result = spawnSync('sh', ['-c', command], { cwd: dir, env, encoding: 'utf8' })
      const said = `README.md:${example.line}: ${command}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`
      t.is(result.status, 0, said)
      t.false(/internal error|no function ran/.test(result.stderr), said)
      for (const [, written] of command.matchAll(/--(?:html|svg) (\S+)/g)) t.true(existsSync(join(dir, written)), `${said}\n${written} was written`)
      ran++
    }
  }
  t.true(ran >= 12, `${ran} commands ran`)
})
