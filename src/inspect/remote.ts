/**
 * An inspector session with another Node process, over the WebSocket its inspector serves on
 * 127.0.0.1 (the Chrome DevTools protocol): what `memtrace attach` drives. Node 22 and later
 * have a WebSocket client built in; on Node 20 it comes from the `ws` package.
 */
import { get } from 'node:http'

/** The part of a WebSocket this module uses, which Node's and `ws`'s have alike. */
interface Socket {
  send(data: string): void
  close(): void
  onopen: (() => void) | null
  onmessage: ((event: { data: unknown }) => void) | null
  onclose: (() => void) | null
  onerror: ((event: { message?: string; error?: Error }) => void) | null
}

type SocketClass = new (url: string) => Socket

async function socketClass(): Promise<SocketClass> {
  const builtIn = (globalThis as { WebSocket?: SocketClass }).WebSocket
  if (builtIn) return builtIn
  return (await import('ws')).WebSocket as unknown as SocketClass
}

/** GETs `path` of the inspector at `port` on the loopback; its JSON, or null when nothing answers there. */
export function inspectorJson(port: number, path: string): Promise<unknown | null> {
  return new Promise((resolve) => {
    const request = get({ host: '127.0.0.1', port, path, timeout: 2000 }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (body += chunk))
      response.on('end', () => {
        try {
          resolve(JSON.parse(body))
        } catch {
          resolve(null)
        }
      })
    })
    request.on('timeout', () => request.destroy())
    request.on('error', () => resolve(null))
  })
}

export class RemoteInspector {
  readonly #socket: Socket
  #next = 1
  readonly #waiting = new Map<number, { resolve(result: unknown): void; reject(error: Error): void; method: string }>()
  #closed = false
  /** Called once when the connection ends, whoever ended it. */
  onClose: (() => void) | null = null
  /** Called for each event the target sends (a message without an id). */
  onEvent: ((method: string, params: unknown) => void) | null = null

  private constructor(socket: Socket) {
    this.#socket = socket
    socket.onmessage = (event) => {
      const message = JSON.parse(String(event.data)) as { id?: number; method?: string; params?: unknown; result?: unknown; error?: { message: string } }
      if (message.id === undefined && message.method) this.onEvent?.(message.method, message.params)
      const waiting = message.id === undefined ? undefined : this.#waiting.get(message.id)
      if (!waiting) return
      this.#waiting.delete(message.id!)
      if (message.error) waiting.reject(new Error(`the target's inspector refused ${waiting.method}: ${message.error.message}`))
      else waiting.resolve(message.result)
    }
    socket.onclose = () => {
      this.#closed = true
      for (const waiting of this.#waiting.values()) waiting.reject(new Error(`the connection to the target ended before it answered ${waiting.method}`))
      this.#waiting.clear()
      this.onClose?.()
    }
  }

  /** Opens a session with the inspector at `url` (a `webSocketDebuggerUrl`). */
  static async connect(url: string): Promise<RemoteInspector> {
    const Socket = await socketClass()
    const socket = new Socket(url)
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve()
      socket.onerror = (event) => reject(new Error(`cannot connect to ${url}: ${event.message ?? event.error?.message ?? 'the connection failed'}`))
    })
    socket.onerror = null
    return new RemoteInspector(socket)
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Sends a command; its result. */
  post(method: string, params: object = {}): Promise<unknown> {
    if (this.#closed) return Promise.reject(new Error(`the connection to the target has ended; cannot send ${method}`))
    const id = this.#next++
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject, method })
      this.#socket.send(JSON.stringify({ id, method, params }))
    })
  }

  /** The value of `expression` evaluated in the target's main context (JSON-serialisable). */
  async evaluate<T>(expression: string): Promise<T> {
    const { result, exceptionDetails } = (await this.post('Runtime.evaluate', { expression, returnByValue: true })) as {
      result: { value: T }
      exceptionDetails?: { exception?: { description?: string }; text: string }
    }
    if (exceptionDetails) throw new Error(`the target could not evaluate ${expression}: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`)
    return result.value
  }

  close(): void {
    if (!this.#closed) this.#socket.close()
  }
}
