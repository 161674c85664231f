import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'

import test from 'ava'

import { pageSize, rss, rssOf, rssPeak } from '../dist/index.js'

const MiB = 1024 * 1024

/** RSS as the kernel reports it, read the plain way: the second field of /proc/self/statm. */
function statmRss(): number {
  return Number(readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * pageSize()
}

/** A test that needs Linux's /proc; elsewhere ava lists it as skipped, the reason in its title. */
const onLinux = process.platform === 'linux' ? test : test.skip

onLinux('rss agrees with an independent read of /proc/self/statm (Linux only: statm is in /proc)', (t) => {
  const ours = rss()
  const theirs = statmRss()
  t.true(Math.abs(ours - theirs) <= 16 * pageSize(), `rss() ${ours} vs statm ${theirs}`)
})

test('rss rises by at least 60 MiB after a 64 MiB buffer is allocated and touched', (t) => {
  const before = rss()
  const block = Buffer.alloc(64 * MiB, 1)
  const after = rss()
  t.is(block[block.length - 1], 1)
  t.true(after - before >= 60 * MiB, `rose by ${(after - before) / MiB} MiB`)
})

test('rssPeak is at least the current rss', (t) => {
  const now = rss()
  t.true(rssPeak() >= now)
})

test('pageSize is a power of two of at least 4 KiB', (t) => {
  const size = pageSize()
  t.true(size >= 4096)
  t.is(size & (size - 1), 0)
})

const CHILD = `
const lines = require('node:readline').createInterface({ input: process.stdin })
const kept = []
console.log('ready')
lines.on('line', () => { kept.push(Buffer.alloc(96 * 1024 * 1024, 7)); console.log('grown') })
`

test('rssOf follows a child process as it allocates and touches memory', async (t) => {
  const child = spawn(process.execPath, ['-e', CHILD], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
  t.is((await lines.next()).value, 'ready')
  const before = rssOf(child.pid!)
  child.stdin!.write('grow\n')
  t.is((await lines.next()).value, 'grown')
  const after = rssOf(child.pid!)
  t.true(after - before >= 90 * MiB, `child rose by ${(after - before) / MiB} MiB`)

  child.kill()
  await once(child, 'exit')
  const error = t.throws(() => rssOf(child.pid!))
  t.is(error?.message, `no process with pid ${child.pid} exists`)
})

test('rssOf rejects what is not a pid with a TypeError', (t) => {
  for (const bad of [0, -1, 1.5, NaN, '12', null, 2 ** 32]) {
    const error = t.throws(() => rssOf(bad as number), { instanceOf: TypeError })
    t.regex(error!.message, /^pid must be a positive integer process id, got /)
  }
})
