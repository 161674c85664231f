// A profiler log of any size, for measuring how reports and exports scale: a program of 200
// functions whose rows spread over 2,000 call stacks (defined up front, as STCK rows), then one
// block of rows written over and over. Written with the columns memtrace writes
// (crates/core/src/format/row.rs), so every reader takes it for a real log.
import { closeSync, openSync, writeSync } from 'node:fs'

const STACKS = 2000
const WHATS = ['CALL', 'RETURN', 'C_CALL', 'C_RETURN', 'RETURN', 'EXCEPT']

const left = (text, width) => String(text).padEnd(width)
const right = (text, width) => String(text).padStart(width)
const site = (n) => `${left(`/srv/app/lib/module${n % 40}.js`, 80)}#${right(10 + (n % 300), 4)} ${left(`fn${n}`, 32)} `

function row(kind, event, dEvent, clock, what, fn, rss, dRss, stack) {
  return `${kind}: ${left(event, 12)} +${left(dEvent, 6)} ${left(clock.toFixed(6), 12)} ${left(what, 8)} ${site(fn)}${right(rss, 12)} ${right(dRss, 12)} @${stack}\n`
}

/**
 * Writes a log of at least `bytes` to `path`; returns its size. The same block of rows repeats:
 * a reader counts it as it would a real log, and the writing costs no more than the disk does.
 */
export function writeLog(path, bytes) {
  const fd = openSync(path, 'w')
  let written = 0
  const put = (text) => {
    written += writeSync(fd, text)
  }
  try {
    const head = ['memtrace benchmark log\nSOF\n', `HEDR: ${left('Event', 12)} ${left('dEvent', 6)}  ${left('Clock', 12)} ${left('What', 8)} ${left('File', 80)}#line ${left('Function', 32)} ${right('RSS', 12)} ${right('dRSS', 12)}\n`]
    // Stack s is its parent's (s >> 1, a binary tree of depth 11) with function s % 200 on top.
    for (let s = 1; s <= STACKS; s++) head.push(`STCK: ${left(`@${s}`, 12)} ${left(`@${s >> 1}`, 12)} ${site(s % 200).trimEnd()}\n`)
    head.push(row('FRST', 0, 0, 0, 'LINE', 0, 50_000_000, 50_000_000, 0))
    put(head.join(''))
    const block = []
    let size = 0
    for (let i = 0; size < 4 << 20; i++) {
      const stack = 1 + ((i * 7919) % STACKS)
      const dRss = ((i % 13) - 5) * 4096
      const text = row('NEXT', 1 + i * 3, 3, i * 1e-5, WHATS[i % WHATS.length], stack % 200, 60_000_000 + (i % 1000) * 4096, dRss, stack)
      block.push(text)
      size += text.length
    }
    const chunk = Buffer.from(block.join(''))
    while (written < bytes) put(chunk)
    put(row('LAST', 1e9, 1, 100, 'LINE', 0, 60_000_000, 0, 0) + 'EOF\n')
  } finally {
    closeSync(fd)
  }
  return written
}
