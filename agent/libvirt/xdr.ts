/**
 * XDR (RFC 4506) encoding as libvirt's RPC protocol uses it. No I/O here:
 * a writer that grows a buffer and a reader over one message body.
 *
 * Note that rpcgen encodes `char`, `short` and their unsigned forms as full
 * 4-byte integers, exactly like `int`.
 */

export class XdrError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "XdrError";
  }
}

const UINT32_MAX = 0xffff_ffff;

export class XdrWriter {
  private buf: Buffer;
  private len = 0;

  constructor(initialSize = 256) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  private reserve(bytes: number): void {
    if (this.len + bytes <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + bytes) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.len);
    this.buf = grown;
  }

  int(value: number): this {
    if (!Number.isInteger(value) || value < -0x8000_0000 || value > 0x7fff_ffff) {
      throw new XdrError(`int out of range: ${value}`);
    }
    this.reserve(4);
    this.buf.writeInt32BE(value, this.len);
    this.len += 4;
    return this;
  }

  uint(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > UINT32_MAX) {
      throw new XdrError(`unsigned int out of range: ${value}`);
    }
    this.reserve(4);
    this.buf.writeUInt32BE(value, this.len);
    this.len += 4;
    return this;
  }

  hyper(value: bigint | number): this {
    this.reserve(8);
    this.buf.writeBigInt64BE(BigInt(value), this.len);
    this.len += 8;
    return this;
  }

  uhyper(value: bigint | number): this {
    this.reserve(8);
    this.buf.writeBigUInt64BE(BigInt(value), this.len);
    this.len += 8;
    return this;
  }

  bool(value: boolean): this {
    return this.int(value ? 1 : 0);
  }

  /** Fixed-length opaque data (e.g. a 16-byte UUID): no length word, padded. */
  fixedOpaque(data: Uint8Array, size: number): this {
    if (data.length !== size) throw new XdrError(`fixed opaque needs ${size} bytes, got ${data.length}`);
    this.raw(data);
    return this.pad(size);
  }

  /** Variable-length opaque data: length word, bytes, padding. */
  opaque(data: Uint8Array, max = UINT32_MAX): this {
    if (data.length > max) throw new XdrError(`opaque of ${data.length} bytes exceeds limit ${max}`);
    this.uint(data.length);
    this.raw(data);
    return this.pad(data.length);
  }

  string(value: string, max = UINT32_MAX): this {
    return this.opaque(Buffer.from(value, "utf8"), max);
  }

  /** An XDR optional (`type *name`): a boolean, then the value if present. */
  optional<T>(value: T | null | undefined, encode: (w: this, v: T) => void): this {
    if (value === null || value === undefined) return this.bool(false);
    this.bool(true);
    encode(this, value);
    return this;
  }

  array<T>(items: readonly T[], encode: (w: this, v: T) => void, max = UINT32_MAX): this {
    if (items.length > max) throw new XdrError(`array of ${items.length} exceeds limit ${max}`);
    this.uint(items.length);
    for (const item of items) encode(this, item);
    return this;
  }

  private raw(data: Uint8Array): void {
    this.reserve(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
  }

  private pad(size: number): this {
    const padding = (4 - (size % 4)) % 4;
    if (padding > 0) {
      this.reserve(padding);
      this.buf.fill(0, this.len, this.len + padding);
      this.len += padding;
    }
    return this;
  }

  get length(): number {
    return this.len;
  }

  toBuffer(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

export class XdrReader {
  private offset = 0;

  constructor(private readonly buf: Buffer) {}

  private need(bytes: number, what: string): void {
    if (this.offset + bytes > this.buf.length) {
      throw new XdrError(
        `truncated XDR: ${what} needs ${bytes} bytes at offset ${this.offset}, only ${this.buf.length - this.offset} left`,
      );
    }
  }

  int(): number {
    this.need(4, "int");
    const v = this.buf.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  uint(): number {
    this.need(4, "unsigned int");
    const v = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  hyper(): bigint {
    this.need(8, "hyper");
    const v = this.buf.readBigInt64BE(this.offset);
    this.offset += 8;
    return v;
  }

  uhyper(): bigint {
    this.need(8, "unsigned hyper");
    const v = this.buf.readBigUInt64BE(this.offset);
    this.offset += 8;
    return v;
  }

  /** An unsigned hyper that must fit a JS number (memory sizes, byte counts). */
  uhyperNumber(): number {
    const v = this.uhyper();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new XdrError(`unsigned hyper ${v} exceeds the safe integer range`);
    return Number(v);
  }

  bool(): boolean {
    const v = this.int();
    if (v !== 0 && v !== 1) throw new XdrError(`invalid XDR bool ${v}`);
    return v === 1;
  }

  fixedOpaque(size: number): Buffer {
    const padded = size + ((4 - (size % 4)) % 4);
    this.need(padded, `opaque[${size}]`);
    const v = Buffer.from(this.buf.subarray(this.offset, this.offset + size));
    this.offset += padded;
    return v;
  }

  opaque(max = UINT32_MAX): Buffer {
    const size = this.uint();
    if (size > max) throw new XdrError(`opaque length ${size} exceeds limit ${max}`);
    return this.fixedOpaque(size);
  }

  string(max = UINT32_MAX): string {
    return this.opaque(max).toString("utf8");
  }

  optional<T>(decode: (r: this) => T): T | null {
    return this.bool() ? decode(this) : null;
  }

  array<T>(decode: (r: this) => T, max = UINT32_MAX): T[] {
    const count = this.uint();
    if (count > max) throw new XdrError(`array length ${count} exceeds limit ${max}`);
    // Each element takes at least 4 bytes; refuse a count the buffer cannot hold
    // before allocating for it.
    if (count * 4 > this.remaining) throw new XdrError(`array length ${count} larger than the ${this.remaining} bytes left`);
    const items: T[] = [];
    for (let i = 0; i < count; i++) items.push(decode(this));
    return items;
  }

  get remaining(): number {
    return this.buf.length - this.offset;
  }

  /** Fails when a decoder left bytes unread: a layout mismatch, not a detail to ignore. */
  end(): void {
    if (this.remaining !== 0) throw new XdrError(`${this.remaining} unexpected trailing bytes in XDR body`);
  }
}
