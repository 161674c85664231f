// Markdown-ish text to HTML: headings and paragraphs.
function escapeHtml(text) {
  return text.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c])
}

function renderBlock(block) {
  if (block.startsWith('## ')) return `<h2>${escapeHtml(block.slice(3))}</h2>`
  return `<p>${escapeHtml(block)}</p>`
}

export function renderPage(source) {
  return source.split('\n\n').map(renderBlock).join('\n')
}
