/**
 * The call stacks of one log, interned as a tree: stack `id` is stack `parent` with function
 * `frame` called on top, and 0 is the empty stack. The hot path asks for the id of the stack a
 * logged row happened in; each stack new to the log is handed to `define` (which writes its
 * STCK record) before its id is returned, so the writer defines it before the row that names it.
 *
 * Only logged rows come here, so this may take a few steps per frame; what it keeps is the
 * stack asked for last with the id of each of its prefixes, so that a row logged in the same
 * part of the program as the one before walks only the frames that changed.
 */
export class StackTable {
  /** Children of each stack, by the id of the function on top. */
  #children: (Map<number, number> | undefined)[] = [undefined]
  /** The last stack interned, and the id of each of its prefixes (`#ids[i]`: frames 0..i). */
  #frames = new Int32Array(64)
  #ids = new Int32Array(64)
  #length = 0

  /** The id of the stack `frames[0..count - 1]` with `top` on top (`count` 0: the empty stack). */
  intern(frames: Int32Array, count: number, top: number, define: (id: number, parent: number, frame: number) => void): number {
    if (count <= 0) return 0
    if (count > this.#frames.length) this.#grow(count)
    const last = this.#frames
    let same = 0
    const limit = Math.min(count - 1, this.#length)
    while (same < limit && last[same] === frames[same]) same++
    if (same === count - 1 && same < this.#length && last[same] === top) same++
    let id = same === 0 ? 0 : this.#ids[same - 1]
    // Frames past `same` are replaced below; until all are, only those before it are known.
    this.#length = same
    for (let i = same; i < count; i++) {
      const frame = i === count - 1 ? top : frames[i]
      let children = this.#children[id]
      if (children === undefined) this.#children[id] = children = new Map()
      let child = children.get(frame)
      if (child === undefined) {
        child = this.#children.length
        define(child, id, frame)
        this.#children.push(undefined)
        children.set(frame, child)
      }
      last[i] = frame
      this.#ids[i] = child
      id = child
    }
    this.#length = count
    return id
  }

  #grow(count: number): void {
    const length = Math.max(count, this.#frames.length * 2)
    const frames = new Int32Array(length)
    frames.set(this.#frames)
    const ids = new Int32Array(length)
    ids.set(this.#ids)
    this.#frames = frames
    this.#ids = ids
  }
}
