/**
 * A WebSocket message as ws hands it over (one Buffer, fragments, or an
 * ArrayBuffer), measured and decoded without copying it first: the bytes are
 * read in place; only fragments must be joined.
 */
export type FrameData = Buffer | ArrayBuffer | Buffer[];

export function frameBytes(data: FrameData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data.byteLength;
}

export function frameText(data: FrameData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  // Buffer.from(buffer) would copy it; a Buffer decodes as it is, an ArrayBuffer through a view.
  return (Buffer.isBuffer(data) ? data : Buffer.from(data)).toString("utf8");
}
