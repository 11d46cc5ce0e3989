/**
 * A synthetic v210 source: colour bars with a white band that moves one step per grain and
 * the grain index stamped into the first line, so every grain differs and a grain that
 * arrives in the wrong slot or half-written cannot match its checksum.
 */
/** v210 packs 6 pixels into 16 bytes as four little-endian words of three 10-bit samples. */
function packV210(cb: number, y: number, cr: number): Uint32Array {
  const w = new Uint32Array(4);
  // Twelve samples per 16 bytes, in the order Cb Y Cr Y Cb Y Cr Y Cb Y Cr Y.
  const s = [cb, y, cr, y, cb, y, cr, y, cb, y, cr, y];
  for (let i = 0; i < 4; i++) w[i] = (s[i * 3] & 0x3ff) | ((s[i * 3 + 1] & 0x3ff) << 10) | ((s[i * 3 + 2] & 0x3ff) << 20);
  return w;
}

// 75% colour bars (10-bit BT.709 Y Cb Cr): white, yellow, cyan, green, magenta, red, blue, black.
const BARS: [number, number, number][] = [
  [721, 512, 512], [674, 176, 543], [581, 589, 176], [534, 253, 207], [251, 771, 817], [204, 435, 848], [111, 848, 481], [64, 512, 512],
];

export class TestPattern {
  /** The pattern for a discrete flow: one plane per non-empty slice size (v210a: the key plane). */
  static forGeometry(g: { sliceSizes: readonly number[]; planeOffsets: readonly number[]; totalSlices: number }): TestPattern {
    const planes = g.sliceSizes.filter((x) => x > 0).map((lineBytes, i) => ({ offset: g.planeOffsets[i], lineBytes }));
    return new TestPattern(g.sliceSizes[0], g.totalSlices, planes);
  }

  private readonly base: Uint8Array;
  private readonly white = packV210(512, 940, 512);

  constructor(readonly lineBytes: number, readonly lines: number, readonly planes: { offset: number; lineBytes: number }[] = [{ offset: 0, lineBytes }]) {
    const total = planes.reduce((n, p) => Math.max(n, p.offset + p.lineBytes * lines), 0);
    this.base = new Uint8Array(total);
    const line = new Uint32Array(lineBytes / 4);
    const groups = Math.floor(lineBytes / 16);
    for (let g = 0; g < groups; g++) line.set(packV210(...(BARS[Math.floor((g * BARS.length) / groups)] as [number, number, number])), g * 4);
    const lineU8 = new Uint8Array(line.buffer);
    for (let l = 0; l < lines; l++) this.base.set(lineU8, l * lineBytes);
    // Not v210 (an ancillary data flow has 1-byte slices): a byte ramp instead of bars.
    if (lineBytes % 16 !== 0) for (let i = 0; i < total; i++) this.base[i] = (i * 7 + 13) & 0xff;
    // Key (alpha) plane of v210a: opaque, 10-bit 1023 in every sample slot.
    for (const p of planes.slice(1)) {
      const k = new Uint32Array(this.base.buffer, p.offset, (p.lineBytes * lines) / 4);
      k.fill((1023 | (1023 << 10) | (1023 << 20)) >>> 0);
    }
  }

  /** Paints grain `index` into `payload`. */
  paint(payload: Uint8Array, index: bigint): void {
    payload.set(this.base.subarray(0, payload.length));
    // The moving band: 8 lines, one step per grain (v210 lines only: whole 16-byte groups).
    if (this.lineBytes % 16 === 0) this.paintBand(payload, index);
    // Index stamp at the start of line 0 (little-endian u64), where a viewer sees it as noise.
    new DataView(payload.buffer, payload.byteOffset, 8).setBigUint64(0, index, true);
  }

  private paintBand(payload: Uint8Array, index: bigint): void {
    const band = Number(index % BigInt(Math.max(1, this.lines - 8)));
    const fill = new Uint32Array(payload.buffer, payload.byteOffset + band * this.lineBytes, (8 * this.lineBytes) / 4);
    for (let i = 0; i < fill.length; i += 4) fill.set(this.white, i);
  }

  /** Whether `payload` is exactly grain `index` (renders it into `scratch`, then memcmp). */
  matches(payload: Uint8Array, index: bigint, scratch: Uint8Array): boolean {
    this.paint(scratch, index);
    return Buffer.compare(payload, scratch) === 0;
  }
}
