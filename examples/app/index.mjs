// The demo's program: a small static-site builder with a memory problem. It renders pages of
// markdown-like text to HTML, and keeps every rendered page in a cache that is never trimmed,
// so its memory grows with every page; memtrace shows which function the growth comes from.
import { renderPage } from './render.mjs'

const cache = new Map()

function makeSource(index) {
  const paragraphs = []
  for (let p = 0; p < 12; p++) {
    paragraphs.push(`## Section ${p} of page ${index}\n\n${'Memory grows where nobody looks. '.repeat(30 + (index % 7))}`)
  }
  return paragraphs.join('\n\n')
}

/** Keeps a rendered page, and its words and lines for a search index that is never used. */
function remember(key, html) {
  cache.set(key, { html, words: html.split(' '), lines: html.split('\n') })
}

function buildSite(pages) {
  let bytes = 0
  for (let i = 0; i < pages; i++) {
    const html = renderPage(makeSource(i))
    remember(`page-${i}`, html)
    bytes += html.length
  }
  return bytes
}

const built = buildSite(400)
console.log(`built ${cache.size} pages, ${(built / 1e6).toFixed(1)} MB of HTML`)
