// memtrace attach: a running Node process, started without memtrace, looked into through its
// inspector, which is switched on for the attach and off after; the target never notices.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'

import test from 'ava'

import { inspectorJson } from '../dist/inspect/remote.js'
import { cliPath, fixtures, logsIn, spawned, started, tempDir, type Running } from './support/index.js'

const server = join(fixtures, 'attach', 'server.cjs')

/** A port nothing listens on now: each target opens its inspector on one of its own, as tests run at once. */
function freePort(): Promise<number> {
  return new Promise((done) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number }
      probe.close(() => done(port))
    })
  })
}

/** The server fixture, untraced, its inspector (once switched on) on `inspectPort`; its HTTP port. */
async function startServer(inspectPort: number, ...args: string[]): Promise<{ target: Running; port: number }> {
  const target = await started([`--inspect-port=${inspectPort}`, server, ...args], 'listening')
  return { target, port: Number(/listening (\d+)/.exec(target.stdout)![1]) }
}

/** Requests to the server, one after another, while `going()` holds (at least `least`); how many answered ok and how many did not. */
async function load(port: number, least: number, going: () => boolean = () => false): Promise<{ ok: number; failed: number }> {
  const counts = { ok: 0, failed: 0 }
  for (let i = 0; i < least || going(); i++) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/${i}`)
      const text = await response.text()
      if (response.ok && text.startsWith('ok ')) counts.ok++
      else counts.failed++
    } catch {
      counts.failed++
    }
  }
  return counts
}

test('memtrace attach --heap: a server under load answers every request before, during and after; its inspector is closed again', async (t) => {
  const inspectPort = await freePort()
  const { target, port } = await startServer(inspectPort)
  try {
    t.deepEqual(await load(port, 20), { ok: 20, failed: 0 }, 'before')
    for (const round of [1, 2]) {
      const dir = tempDir(`attach-${round}`)
      const attach = spawned([cliPath, 'attach', '--duration', '3', '--heap', '--interval', '0.1', '--port', String(inspectPort), '--log-dir', dir, String(target.child.pid)])
      let attached = true
      void attach.exited.then(() => (attached = false))
      const during = await load(port, 20, () => attached)
      const result = await attach.exited
      t.is(result.code, 0, result.stderr)
      t.is(during.failed, 0, `round ${round}: ${during.ok} requests answered while attached`)
      t.true(during.ok >= 20)
      // The monitor's log: RSS and the target's V8 heap, sampled over the attach.
      const [log] = logsIn(dir, '.jsonl')
      t.true(log.endsWith(`_${target.child.pid}.jsonl`), log)
      const rows = readFileSync(log, 'utf8').trim().split('\n').map((line) => JSON.parse(line))
      t.like(rows[0], { type: 'header', pid: target.child.pid, attached: true })
      const samples = rows.filter((r) => r.type === 'sample')
      t.true(samples.length >= 5, `${samples.length} samples`)
      t.true(samples.some((s) => s.heap?.used > 0), 'the target\'s heap figures')
      // The heap profile, in V8's format, with the server's own function among its stacks.
      const [heap] = logsIn(dir, '.heapprofile')
      const profile = JSON.parse(readFileSync(heap, 'utf8'))
      t.is(profile.head.callFrame.functionName, '(root)')
      t.true(Array.isArray(profile.samples))
      t.regex(result.stderr, new RegExp(`memtrace: \\S+\\.heapprofile: [\\d,]+ samples? of JavaScript objects still alive`))
      t.is(await inspectorJson(inspectPort, '/json/version'), null, `round ${round}: no inspector listens after the attach`)
    }
    t.deepEqual(await load(port, 20), { ok: 20, failed: 0 }, 'after')
    t.is(target.child.exitCode, null, 'the target still runs')
  } finally {
    target.child.kill()
  }
})

test('memtrace attach: a target that ends while attached leaves what was recorded, and says so', async (t) => {
  const inspectPort = await freePort()
  const { target } = await startServer(inspectPort, 'exit-after', '2000')
  const dir = tempDir('attach-gone')
  const attach = spawned([cliPath, 'attach', '--duration', '60', '--interval', '0.1', '--port', String(inspectPort), '--log-dir', dir, String(target.child.pid)])
  const result = await attach.exited
  t.is(result.code, 0, result.stderr)
  t.regex(result.stderr, new RegExp(`memtrace: process ${target.child.pid} ended while attached; what was recorded until then is kept\\n`))
  const [log] = logsIn(dir, '.jsonl')
  const rows = readFileSync(log, 'utf8').trim().split('\n').map((line) => JSON.parse(line))
  t.true(rows.filter((r) => r.type === 'sample').length >= 1)
  t.is(rows.at(-1).type, 'end')
})

test('memtrace attach: what cannot be attached to says why, and leaves the process as it was', async (t) => {
  const dir = tempDir('attach-errors')
  const attach = (...args: string[]) => spawnSync(process.execPath, [cliPath, 'attach', '--log-dir', dir, ...args], { encoding: 'utf8' })

  const gone = spawnSync(process.execPath, ['-e', '0'])
  const noSuch = attach(String(gone.pid))
  t.is(noSuch.status, 1)
  t.regex(noSuch.stderr, new RegExp(`^memtrace: there is no process ${gone.pid}\\n`))

  const sleeper = spawned(['30'], { command: 'sleep' })
  try {
    const notNode = attach(String(sleeper.child.pid))
    t.is(notNode.status, 1)
    t.regex(notNode.stderr, new RegExp(`^memtrace: process ${sleeper.child.pid} is not a Node process: it runs \\S*sleep\\n`))
  } finally {
    sleeper.child.kill()
  }

  // --disable-sigusr1 came with Node 22.14 and 23.7.
  if (process.allowedNodeEnvironmentFlags.has('--disable-sigusr1')) {
    const disabled = await started(['--disable-sigusr1', server], 'listening')
    try {
      const refused = attach(String(disabled.child.pid))
      t.is(refused.status, 1)
      t.regex(refused.stderr, /was started with --disable-sigusr1: its inspector cannot be switched on from outside \(SIGUSR1 would end it\)/)
      t.is(disabled.child.exitCode, null, 'and it was not signalled')
    } finally {
      disabled.child.kill()
    }
  }

  const inspectPort = await freePort()
  const { target } = await startServer(inspectPort)
  const taken = createServer().listen(0, '127.0.0.1')
  await new Promise((done) => taken.once('listening', done))
  try {

    // A wrong --port: the port the target opened is found all the same (from /proc), and closed after.
    const wrongPort = attach('--port', String((taken.address() as { port: number }).port), '--duration', '0.5', String(target.child.pid))
    t.is(wrongPort.status, 0, wrongPort.stderr)
    t.is(await inspectorJson(inspectPort, '/json/version'), null, 'its inspector is closed again')
    t.is(target.child.exitCode, null)
  } finally {
    taken.close()
    target.child.kill()
  }

  for (const [args, expected] of [
    [[], /^memtrace: which process\? Give its pid/],
    [['--duration', 'soon', '1'], /^memtrace: --duration must be a number of seconds from 0\.001 to 3600, got "soon"/],
    [['--port', '70000', '1'], /^memtrace: --port must be a whole number from 1 to 65535, got "70000"/],
    [['--heap-interval', '10', '1'], /^memtrace: --heap-interval is for --heap: give --heap too/],
  ] as const) {
    const result = attach(...args)
    t.is(result.status, 2, result.stderr)
    t.regex(result.stderr, expected)
  }
})
