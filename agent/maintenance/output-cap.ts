/**
 * Command output goes into one WebSocket frame (4 MiB at most) and into the
 * run's evidence, so each stream is cut at a fixed size, on a UTF-8 character
 * boundary, with a flag saying so.
 */
export const MAX_STREAM_BYTES = 64 * 1024;

export function capText(text: string, maxBytes = MAX_STREAM_BYTES): { text: string; truncated: boolean } {
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= maxBytes) return { text, truncated: false };
  return { text: capBytes(bytes, maxBytes), truncated: true };
}

/** The first `maxBytes` bytes as text, without a half character at the end. */
export function capBytes(bytes: Buffer, maxBytes = MAX_STREAM_BYTES): string {
  let end = Math.min(maxBytes, bytes.length);
  // Back up over continuation bytes (10xxxxxx) to the start of a character that fits whole.
  if (end < bytes.length) {
    while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  }
  return bytes.subarray(0, end).toString("utf8");
}

/** Collects a stream's chunks up to `maxBytes` and keeps counting past it (the stream must still be drained). */
export class CappedBuffer {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private seen = 0;

  constructor(private readonly maxBytes = MAX_STREAM_BYTES) {}

  push(chunk: Buffer): void {
    this.seen += chunk.length;
    if (this.kept >= this.maxBytes) return;
    // One byte past the cap is kept so capBytes can tell a cut character from a whole one.
    const room = this.maxBytes + 1 - this.kept;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.chunks.push(part);
    this.kept += part.length;
  }

  get truncated(): boolean {
    return this.seen > this.maxBytes;
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    return this.truncated ? capBytes(all, this.maxBytes) : all.toString("utf8");
  }
}
