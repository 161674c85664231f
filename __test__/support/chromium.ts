// Headless Chromium for the tests that look at reports: Debian's package rather than a
// browser downloaded by Playwright, so nothing is fetched from outside the system's package
// manager. Installed on first use where that is possible; never silently skipped.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

import { chromium, type Browser } from 'playwright-core'

const SYSTEM_CHROMIUM = '/usr/bin/chromium'

const HOW_TO_INSTALL =
  'install it with `apt-get install chromium` (as root), or set MEMTRACE_CHROMIUM=/path/to/chromium'

function hasAptGet(): boolean {
  return !spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).error
}

/** Runs `apt-get …args` as root with its progress on stderr. */
function aptGet(...args: string[]): void {
  process.stderr.write(`memtrace tests: apt-get ${args.join(' ')}\n`)
  const result = spawnSync('apt-get', args, {
    stdio: ['ignore', process.stderr, process.stderr],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  })
  if (result.error || result.status !== 0) {
    throw new Error(`\`apt-get ${args.join(' ')}\` failed (${result.error?.message ?? `exit status ${result.status}`}); ${HOW_TO_INSTALL}`)
  }
}

let found: string | undefined

/**
 * The Chromium to drive: $MEMTRACE_CHROMIUM, else /usr/bin/chromium, installed with apt-get
 * when missing and this process is root.
 *
 * @throws Error saying how to install Chromium when there is none and it cannot be installed.
 */
export function chromiumPath(): string {
  if (found) return found
  const chosen = process.env.MEMTRACE_CHROMIUM
  if (chosen) {
    if (!existsSync(chosen)) throw new Error(`MEMTRACE_CHROMIUM is ${chosen}, which does not exist: point it at a Chromium executable, or unset it to use ${SYSTEM_CHROMIUM}`)
    return (found = chosen)
  }
  if (!existsSync(SYSTEM_CHROMIUM)) {
    if (process.getuid?.() !== 0 || !hasAptGet()) {
      throw new Error(`the report tests need Chromium and ${SYSTEM_CHROMIUM} does not exist: ${HOW_TO_INSTALL}`)
    }
    aptGet('update')
    aptGet('install', '-y', 'chromium')
    if (!existsSync(SYSTEM_CHROMIUM)) throw new Error(`apt-get installed chromium but ${SYSTEM_CHROMIUM} is still missing; ${HOW_TO_INSTALL}`)
  }
  return (found = SYSTEM_CHROMIUM)
}

/**
 * Launches headless Chromium with everything that reaches out to the network on its own turned
 * off, so the only requests a page shows are its own. Playwright gives each launch a fresh
 * temporary profile (its --user-data-dir, removed on close) and refuses one passed in `args`.
 */
export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  })
}
