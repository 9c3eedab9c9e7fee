/**
 * Builds an outgoing head as one Buffer from slices of the received head and a
 * few static lines. Copying a few hundred bytes once is cheaper than a corked
 * write per slice (each costs a buffered-request object and a writev entry),
 * and it lets a small body leave in the same write as its head.
 */
export class HeadBuilder {
  private sources: Buffer[] = [];
  private starts = new Int32Array(64);
  private ends = new Int32Array(64);
  private count = 0;
  private total = 0;

  reset(): void {
    this.count = 0;
    this.total = 0;
  }

  add(buf: Buffer, start: number, end: number): void {
    if (end <= start) return;
    const n = this.count;
    if (n === this.starts.length) this.grow();
    this.sources[n] = buf;
    this.starts[n] = start;
    this.ends[n] = end;
    this.count = n + 1;
    this.total += end - start;
  }

  addAll(buf: Buffer): void {
    this.add(buf, 0, buf.length);
  }

  /** Length of the head built so far. */
  get length(): number {
    return this.total;
  }

  /** The segments in one Buffer, followed by tail[tailStart, tailEnd) (e.g. a small body). */
  build(tail: Buffer | null, tailStart: number, tailEnd: number): Buffer {
    const tailLength = tail === null ? 0 : tailEnd - tailStart;
    const out = Buffer.allocUnsafe(this.total + tailLength);
    let pos = 0;
    for (let i = 0; i < this.count; i++) {
      const src = this.sources[i]!;
      const s = this.starts[i]!;
      const e = this.ends[i]!;
      if (e - s < 32) {
        for (let k = s; k < e; k++) out[pos++] = src[k]!;
      } else {
        pos += src.copy(out, pos, s, e);
      }
      this.sources[i] = EMPTY; // do not keep received buffers alive
    }
    if (tail !== null && tailLength > 0) tail.copy(out, pos, tailStart, tailEnd);
    this.count = 0;
    this.total = 0;
    return out;
  }

  private grow(): void {
    const starts = new Int32Array(this.starts.length * 2);
    const ends = new Int32Array(this.ends.length * 2);
    starts.set(this.starts);
    ends.set(this.ends);
    this.starts = starts;
    this.ends = ends;
  }
}

const EMPTY = Buffer.alloc(0);
