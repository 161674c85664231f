// Runs one test262 test in this process, as test262's INTERPRETING.md asks of a host, and prints
// its outcome as the last line: `outcome {"ok":…,"error":…}`. `node test262-host.cjs <prelude>
// <test> <module|script> <async: 0|1>`: the prelude (harness files, composed by test262.mjs) runs
// as a classic script; the test as a classic script from its file (through vm, under its file's
// name, as memtrace instruments such code), or as an ES module imported from its file.
'use strict'
const { readFileSync } = require('node:fs')
const vm = require('node:vm')
const { pathToFileURL } = require('node:url')

const [prelude, test, kind, async] = process.argv.slice(2)
let done = async !== '1'
let asyncFailure = null

globalThis.print = (message) => {
  const text = String(message)
  if (text === 'Test262:AsyncTestComplete') done = true
  else if (text.startsWith('Test262:AsyncTestFailure:')) asyncFailure = text.slice('Test262:AsyncTestFailure:'.length)
  else console.log(text)
}
globalThis.$262 = {
  global: globalThis,
  gc: globalThis.gc,
  evalScript: (source) => vm.runInThisContext(source),
  createRealm() {
    const context = vm.createContext({})
    const realm = vm.runInContext('this', context)
    return { global: realm, evalScript: (source) => vm.runInContext(source, context) }
  },
  detachArrayBuffer(buffer) {
    structuredClone(buffer, { transfer: [buffer] })
  },
}

function finish(error) {
  const described = error === undefined ? null : { name: error?.constructor?.name ?? typeof error, message: String(error?.message ?? error) }
  console.log(`outcome ${JSON.stringify({ error: described, done, asyncFailure })}`)
}

async function main() {
  if (prelude !== '-') vm.runInThisContext(readFileSync(prelude, 'utf8'), { filename: prelude })
  if (kind === 'module') await import(pathToFileURL(test).href)
  else vm.runInThisContext(readFileSync(test, 'utf8'), { filename: test })
}

main().then(
  () => {
    if (done || asyncFailure !== null) finish()
    else process.once('beforeExit', () => finish())
  },
  (error) => finish(error),
)
