/**
 * `memtrace/register`: makes this thread's code traceable. Load it before the program:
 *
 *     node --import memtrace/register app.js      (ES modules and CommonJS)
 *     node --require memtrace/register app.js     (CommonJS-only setups; hooks ESM too)
 *
 * The work is in `install.ts`, loaded only on a thread that runs the program: Node 20 runs
 * `--require` preloads on its loader-hooks thread too (the one thread that is neither main nor a
 * worker with a parent port), where the hooks themselves are all that belongs, and loading the
 * rest there would cost each process's start as much again (bench/startup.bench.mjs).
 */
import { isMainThread, parentPort } from 'node:worker_threads'

if (isMainThread || parentPort !== null) (require('./install.js') as typeof import('./install.js')).install()
