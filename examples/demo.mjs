// The quick-start demo: reads this process's RSS as memory is allocated and released.
import { createRequire } from 'node:module'

const { rss, rssPeak, pageSize } = createRequire(import.meta.url)('../dist/index.js')
const MiB = 2 ** 20
const show = (label) => console.log(`${label.padEnd(34)} rss ${(rss() / MiB).toFixed(1).padStart(7)} MiB   peak ${(rssPeak() / MiB).toFixed(1).padStart(7)} MiB`)

console.log(`page size ${pageSize()} bytes`)
show('at start')
let block = Buffer.alloc(128 * MiB, 1)
show('after touching a 128 MiB buffer')
block = null
globalThis.gc?.()
show('after dropping it')
