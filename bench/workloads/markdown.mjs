// markdown-it rendering real markdown: every README.md one level under node_modules, a few times.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'

// Loaded (and instrumented) when this module is imported, before the timed run.
const MarkdownIt = createRequire(import.meta.url)('markdown-it')

export function generate() {}

/** Renders the pages `rounds` times, all of them or the first 1/`share`, as `scale` ('rounds:share') says. */
export function run(modulesDir, scale) {
  const md = new MarkdownIt({ html: true, linkify: true, typographer: true })
  const pages = []
  for (const name of readdirSync(modulesDir).sort()) {
    const dirs = name.startsWith('@') ? readdirSync(join(modulesDir, name)).map((n) => join(name, n)) : [name]
    for (const dir of dirs) {
      const readme = join(modulesDir, dir, 'README.md')
      if (existsSync(readme)) pages.push(readFileSync(readme, 'utf8'))
    }
  }
  const [rounds, share] = scale.split(':').map(Number)
  const chosen = pages.slice(0, Math.ceil(pages.length / share))
  let bytes = 0
  for (let round = 0; round < rounds; round++) for (const page of chosen) bytes += md.render(page).length
  return bytes
}
