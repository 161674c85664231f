/**
 * `memtrace attach <pid>`: looks into a Node process that was started without memtrace, through
 * its inspector, switched on for the time of the attach and off again after.
 */
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { basename, resolve } from 'node:path'

import { inspectorJson, RemoteInspector } from '../inspect/remote.js'
import { monitorHeader } from '../monitor.js'
import { native } from '../native.js'
import { DEFAULT_HEAP_INTERVAL } from '../profile/heap.js'
import { readHeapProfile } from '../reports/heapprofile.js'
import { bytes, counted } from '../reports/appearance.js'
import { heapSummaryLine } from '../reports/text.js'
import { checkWritable, CommandError, integerOption, onSignals, parseOptions, usage, type Command } from './command.js'
import { intervalMs, statusLine } from './monitor.js'

/** Node's default inspector port, where SIGUSR1 opens the inspector unless `--inspect-port` said otherwise. */
const NODE_INSPECT_PORT = 9229
/** How long the target has to open its inspector once signalled, and to close it at the end. */
const INSPECTOR_DEADLINE_MS = 10_000

const HELP = `Usage: memtrace attach [options] <pid>

Looks into a Node process that is already running, started without memtrace: switches its
inspector on (SIGUSR1, as \`node inspect -p <pid>\` does), connects to it on 127.0.0.1, and records
its RSS and V8 heap every interval (the monitor's JSON Lines, YYYYMMDD_HHMMSS_<pid>.jsonl) and,
with --heap, V8's sampling heap profile (YYYYMMDD_HHMMSS_<pid>.heapprofile), until --duration
ends, the process ends, or Ctrl-C. Then it closes the target's inspector again. The target keeps
running throughout.

While attached, the target's inspector listens on 127.0.0.1:<port>: any local process of the
machine could connect to it for that time. Only the target's own user (or root) can attach.

Options:
  --duration <s>           seconds to record (default: until Ctrl-C or the process ends)
  --heap                   also sample the heap: the objects alive at the end, by stack
  --heap-interval <bytes>  bytes allocated between two heap samples, on average (default ${DEFAULT_HEAP_INTERVAL})
  --interval <s>           seconds between samples of RSS and heap (default 0.25)
  --port <port>            the port the target's inspector opens on (default ${NODE_INSPECT_PORT}; a target
                           started with --inspect-port=<port> uses that one)
  --log-dir <dir>          where the files go (default: the working directory)
  -h, --help               this text

Then read them with \`memtrace report <file>\` (--html for charts and a flame graph).`

const SPECS = {
  duration: { value: true },
  heap: { value: false },
  'heap-interval': { value: true },
  interval: { value: true },
  port: { value: true },
  'log-dir': { value: true },
} as const

/** Whether something accepts connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy()
      done(true)
    })
    socket.on('error', () => done(false))
  })
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms))

/** Waits until `check` holds, looking every 50 ms; false when `ms` pass first. */
async function waitFor(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await check()) return true
    await sleep(50)
  }
  return false
}

/**
 * The TCP ports process `pid` listens on (Linux: its sockets in /proc/<pid>/fd, found in
 * /proc/net/tcp); null where that cannot be read. How the port its inspector opened is found
 * whatever `--inspect-port` it was started with.
 */
function listeningPorts(pid: number): Set<number> | null {
  if (process.platform !== 'linux') return null
  try {
    const inodes = new Set<string>()
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const socket = /^socket:\[(\d+)\]$/.exec(readlinkSafe(`/proc/${pid}/fd/${fd}`))
      if (socket) inodes.add(socket[1])
    }
    const ports = new Set<number>()
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
        const fields = line.trim().split(/\s+/)
        // local address (hex ip:port), state (0A: listening), inode
        if (fields[3] === '0A' && inodes.has(fields[9])) ports.add(parseInt(fields[1].split(':')[1], 16))
      }
    }
    return ports
  } catch {
    return null
  }
}

function readlinkSafe(path: string): string {
  try {
    return readlinkSync(path)
  } catch {
    return ''
  }
}

/**
 * The inspector process `pid` opened after SIGUSR1: on `port` if one was given, on a port it did
 * not listen on before (`before`, where that can be read), or on Node's default; its WebSocket
 * URL and port, or null.
 */
async function findInspector(pid: number, port: number | undefined, before: Set<number> | null): Promise<{ url: string; port: number } | null> {
  let found: { url: string; port: number } | null = null
  await waitFor(async () => {
    const opened = listeningPorts(pid)
    const candidates = new Set([
      ...(port === undefined ? [] : [port]),
      ...(opened && before ? [...opened].filter((p) => !before.has(p)) : [NODE_INSPECT_PORT]),
    ])
    for (const candidate of candidates) {
      const targets = (await inspectorJson(candidate, '/json/list')) as { webSocketDebuggerUrl?: string }[] | null
      const url = Array.isArray(targets) ? targets.find((t) => t.webSocketDebuggerUrl)?.webSocketDebuggerUrl : undefined
      if (url) {
        found = { url, port: candidate }
        return true
      }
    }
    return false
  }, INSPECTOR_DEADLINE_MS)
  return found
}

/** Fails with what to do when `pid` cannot be attached to: gone, another user's, no Node, no SIGUSR1. */
function checkTarget(pid: number): void {
  try {
    process.kill(pid, 0)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ESRCH') throw new CommandError(`there is no process ${pid}`)
    if (code === 'EPERM') throw new CommandError(`process ${pid} belongs to another user: attach as that user, or as root`)
    throw error
  }
  if (process.platform !== 'linux') return
  let exe: string
  let args: string[]
  let environment: string
  try {
    exe = readlinkSync(`/proc/${pid}/exe`)
    args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    environment = readFileSync(`/proc/${pid}/environ`, 'utf8')
  } catch {
    return
  }
  if (!/node/i.test(basename(exe))) throw new CommandError(`process ${pid} is not a Node process: it runs ${exe}`)
  // SIGUSR1 kills a process whose Node does not handle it.
  const options = environment.split('\0').find((v) => v.startsWith('NODE_OPTIONS=')) ?? ''
  if (args.includes('--disable-sigusr1') || options.includes('--disable-sigusr1')) {
    throw new CommandError(
      `process ${pid} was started with --disable-sigusr1: its inspector cannot be switched on from outside (SIGUSR1 would end it). ` +
        'Start it without that flag, or with --inspect, to look into it.',
    )
  }
}

export const attachCommand: Command = {
  name: 'attach',
  help: HELP,
  async run(args) {
    const { options, rest } = parseOptions('attach', args, SPECS)
    const one = (name: keyof typeof SPECS) => options.get(name)?.[0]
    if (rest.length !== 1) throw usage('attach', rest.length === 0 ? 'which process? Give its pid' : `give one pid, got ${rest.join(' ')}`)
    const pid = integerOption('attach', 'pid', rest[0], 1, 0x7fff_ffff)!
    const duration = one('duration') === undefined ? null : intervalMs(one('duration'), 'attach', 'duration')
    const interval = intervalMs(one('interval'), 'attach', 'interval')
    const givenPort = integerOption('attach', 'port', one('port'), 1, 65535)
    const heapInterval = integerOption('attach', 'heap-interval', one('heap-interval'), 1, 1 << 30) ?? DEFAULT_HEAP_INTERVAL
    if (options.has('heap-interval') && !options.has('heap')) throw usage('attach', '--heap-interval is for --heap: give --heap too')
    const logDir = resolve(one('log-dir') ?? '.')
    checkWritable(logDir)
    checkTarget(pid)
    const before = listeningPorts(pid)
    // Where the ports the target listens on cannot be read, the one its inspector opens on must
    // be free: anything there would be taken for the target's.
    const expected = givenPort ?? NODE_INSPECT_PORT
    if (before === null && (await listening(expected))) {
      throw new CommandError(
        `127.0.0.1:${expected} is taken already (another process being debugged, or this one started with --inspect): ` +
          'end that session, or give the port the target opens its inspector on with --port',
      )
    }
    if (before?.has(expected) && (await inspectorJson(expected, '/json/version')) !== null) {
      throw new CommandError(`process ${pid} has its inspector open already on 127.0.0.1:${expected} (started with --inspect?): a debugger may be using it`)
    }

    // Switch the target's inspector on: SIGUSR1 on Unix, Node's own call elsewhere.
    if (process.platform === 'win32') (process as unknown as { _debugProcess(pid: number): void })._debugProcess(pid)
    else process.kill(pid, 'SIGUSR1')
    const found = await findInspector(pid, givenPort, before)
    if (!found) {
      throw new CommandError(
        `process ${pid} opened no inspector within ${INSPECTOR_DEADLINE_MS / 1000} s: its stderr may say why ` +
          `(127.0.0.1:${expected} taken?); if it was started with --inspect-port=<port>, give that --port`,
      )
    }
    const port = found.port
    const inspector = await RemoteInspector.connect(found.url)
    const closeInspector = async () => {
      // The target closes its inspector once this session has gone: inspector.close() waits
      // for every connection to end, so it runs on the target's next turn, after ours.
      await inspector
        .evaluate(
          "setTimeout(() => (process.getBuiltinModule?.('node:inspector') ?? process.mainModule?.require('node:inspector'))?.close(), 100).unref(), true",
        )
        .catch(() => undefined)
      inspector.close()
      if (!(await waitFor(async () => !(await listening(port)), INSPECTOR_DEADLINE_MS))) {
        process.stderr.write(`memtrace: process ${pid} still has its inspector open on 127.0.0.1:${port}\n`)
      }
    }
    const seen = await inspector.evaluate<number>('process.pid').catch(() => null)
    if (seen !== pid) {
      // Another process's inspector: not ours to close.
      inspector.close()
      throw new CommandError(`127.0.0.1:${port} is the inspector of process ${seen}, not of ${pid}: give the port of ${pid}'s with --port`)
    }

    // A target that ends while attached waits at its exit for this session to go: told so, the
    // attach ends (with a heap profile of what was alive then), and lets it go.
    let exiting = false
    inspector.onEvent = (method) => {
      if (method === 'NodeRuntime.waitingForDisconnect') exiting = true
    }
    await inspector.post('NodeRuntime.notifyWhenWaitingForDisconnect', { enabled: true }).catch(() => undefined)

    const watcher = new native.NativeMonitor({
      logDir,
      pid,
      intervalMs: interval,
      header: monitorHeader({ watched: 'tree', pid, command: null, attached: true, intervalMs: interval }),
    })
    const heapFigures = setInterval(() => {
      inspector
        .evaluate<number[]>('(m => [m.heapUsed, m.heapTotal, m.external, m.arrayBuffers])(process.memoryUsage())')
        .then(([used, total, external, arrayBuffers]) => watcher.setHeap(used, total, external, arrayBuffers))
        .catch(() => undefined)
    }, interval)
    if (options.has('heap')) await inspector.post('HeapProfiler.startSampling', { samplingInterval: heapInterval })
    const clear = statusLine(() => {
      const s = watcher.summary()
      return { rss: s.lastRss, t: s.lastT }
    })

    // Until the duration ends, Ctrl-C, or the target ends.
    const ended = await new Promise<'duration' | 'signal' | 'gone'>((done) => {
      const timer = duration === null ? null : setTimeout(() => finish('duration'), duration)
      const stop = onSignals(() => finish('signal'))
      const poll = setInterval(() => (exiting || watcher.gone || inspector.closed) && finish('gone'), Math.min(interval, 50))
      function finish(why: 'duration' | 'signal' | 'gone') {
        if (timer) clearTimeout(timer)
        stop()
        clearInterval(poll)
        done(why)
      }
    })
    clearInterval(heapFigures)
    clear()
    let heapPath: string | null = null
    if (options.has('heap')) {
      try {
        const { profile } = (await inspector.post('HeapProfiler.getSamplingProfile')) as { profile: object }
        await inspector.post('HeapProfiler.stopSampling')
        heapPath = native.createLogFile(logDir, String(pid), 'heapprofile')
        writeFileSync(heapPath, JSON.stringify(profile))
      } catch (error) {
        process.stderr.write(`memtrace: no heap profile of process ${pid}: ${(error as Error).message}\n`)
      }
    }
    if (ended === 'gone') inspector.close()
    else await closeInspector()
    const summary = watcher.stop(undefined, undefined)
    if (ended === 'gone') process.stderr.write(`memtrace: process ${pid} ended while attached; what was recorded until then is kept\n`)
    process.stderr.write(
      `memtrace: ${watcher.path}: ${counted(summary.samples, 'sample')}` +
        (summary.samples > 0 ? `, peak RSS ${bytes(summary.peakRss)} at ${summary.peakT.toFixed(1)} s` : '') +
        '\n',
    )
    if (heapPath) process.stderr.write(`memtrace: ${heapSummaryLine(heapPath, readHeapProfile(heapPath))}\n`)
    return 0
  },
}
