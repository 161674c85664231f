/**
 * A `.heapprofile` (V8's sampling heap profile, as heap mode writes it and Chrome DevTools
 * saves it) read into the tree of stacks the other reports use (`Stacks`): each node of V8's
 * tree a stack, its growth the bytes of the samples still alive there, its rows their number.
 * JSON.parse reads it whole: V8's tree nests as deep as its stacks, deeper than a streaming
 * parser with a recursion limit takes, and it is small (one node per stack that allocated).
 */
import { readFileSync } from 'node:fs'
import { dirname, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

import { LogError } from './logs.js'
import type { Stacks } from './stacks.js'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}

interface HeapNode {
  callFrame: CallFrame
  selfSize: number
  id: number
  children?: HeapNode[]
}

interface HeapSample {
  size: number
  nodeId: number
}

interface HeapProfile {
  head: HeapNode
  samples?: HeapSample[]
  /** memtrace's: the samples of objects collected before the end, where V8 marks them. */
  collectedSamples?: HeapSample[]
}

/** Allocations by stack, and what they add up to. */
export interface Allocations {
  stacks: Stacks
  /** Samples, and the bytes V8 says they stand for: the program's. */
  samples: number
  bytes: number
  /** memtrace's own (code it instrumented, its hot path's tables): under {@link MEMTRACE}, not counted above. */
  memtrace: { samples: number; bytes: number }
}

/** Live allocations by stack; and those collected before the end, where the profile has them. */
export interface HeapReport extends Allocations {
  collected: Allocations | null
}

/** What V8's root stands for: allocations with no JavaScript on the stack. */
const ROOT = '(root)'

/**
 * The frame under which what memtrace allocated is shown (the instrumented code of each file it
 * loads, the tables of its hot path): every stack that went through memtrace's own code, apart
 * from the program's.
 */
export const MEMTRACE = '(memtrace)'

/** memtrace's own code: `dist/`, whose files this one is among. */
const OWN = dirname(dirname(__filename)) + sep

/** Where a frame is: a path for a file, the URL for what has no path, `<v8>` for V8's own nodes. */
function fileOf(url: string): string {
  if (url === '') return '<v8>'
  return url.startsWith('file:') ? fileURLToPath(url) : url
}

/** Reads the heap profile in `file` (`path` to the user); a LogError when it is not one. */
export function readHeapProfile(file: string, path = file): HeapReport {
  let profile: HeapProfile
  try {
    profile = JSON.parse(readFileSync(file, 'utf8')) as HeapProfile
  } catch (error) {
    throw new LogError(`${path} is not a readable heap profile: ${(error as Error).message}`)
  }
  if (typeof profile?.head?.callFrame !== 'object') {
    throw new LogError(`${path} is not a readable heap profile: it has no head node with a callFrame`)
  }
  const stacks: Stacks = { frames: [], parent: [], frame: [], growth: [], release: [], rows: [], largestAt: [], outside: ROOT }
  const frameIds = new Map<string, number>()
  const nodeOf = new Map<number, number>()
  const push = (parent: number, frame: number, size: number) => {
    stacks.parent.push(Math.max(parent, 0))
    stacks.frame.push(frame)
    stacks.growth.push(size)
    stacks.release.push(0)
    stacks.rows.push(0)
    stacks.largestAt.push(-1)
    return stacks.parent.length - 1
  }
  const frameOf = (file: string, line: number, name: string) => {
    const key = `${file}\0${line}\0${name}`
    let frame = frameIds.get(key) ?? -1
    if (frame < 0) {
      frame = stacks.frames.length
      frameIds.set(key, frame)
      stacks.frames.push({ file, line, function: name, name, kind: 'function' })
    }
    return frame
  }
  // The stacks of memtrace's own code hang under one node of their own, below the root.
  let memtraceNode = -1
  const ownNodes = new Set<number>()
  // Depth first with a stack of its own: V8's tree is as deep as the deepest allocating stack.
  const pending: [HeapNode, number, boolean][] = [[profile.head, -1, false]]
  while (pending.length > 0) {
    const [node, parent, insideOwn] = pending.pop()!
    let frame = -1
    let under = parent
    let own = insideOwn
    if (parent >= 0) {
      const { functionName, url, lineNumber } = node.callFrame
      const file = fileOf(url)
      frame = frameOf(file, url === '' ? 0 : lineNumber + 1, functionName || '(anonymous)')
      if (!own && file.startsWith(OWN)) {
        own = true
        if (memtraceNode < 0) memtraceNode = push(0, frameOf('', 0, MEMTRACE), 0)
        under = memtraceNode
      }
    }
    const index = push(under, frame, node.selfSize)
    if (own) ownNodes.add(index)
    nodeOf.set(node.id, index)
    for (const child of (node.children ?? []).toReversed()) pending.push([child, index, own])
  }
  // Puts `samples` down on the frames of `into`: a row each, and with `sized` their bytes as
  // growth. A live frame's growth is its selfSize already (DevTools' own profiles may have no
  // samples, only sizes); the collected ones' is theirs.
  const put = (samples: HeapSample[], into: Stacks, sized: boolean) => {
    const program = { samples: 0, bytes: 0 }
    const memtrace = { samples: 0, bytes: 0 }
    for (const sample of samples) {
      const index = nodeOf.get(sample.nodeId)
      if (index !== undefined) {
        into.rows[index]++
        if (sized) into.growth[index] += sample.size
      }
      const whose = index !== undefined && ownNodes.has(index) ? memtrace : program
      whose.samples++
      whose.bytes += sample.size
    }
    return { stacks: into, ...program, memtrace }
  }
  const live = put(profile.samples ?? [], stacks, false)
  if (!Array.isArray(profile.collectedSamples)) return { ...live, collected: null }
  const collected: Stacks = { ...stacks, growth: stacks.growth.map(() => 0), rows: stacks.rows.map(() => 0) }
  return { ...live, collected: put(profile.collectedSamples, collected, true) }
}
