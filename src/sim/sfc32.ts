/**
 * sfc32, Chris Doty-Humphrey's "small fast counting" generator: 128-bit state,
 * 32-bit outputs, passes PractRand to large sizes. The one implementation
 * behind the simulator's seeded streams and the bench's key choice.
 */
export class Sfc32 {
  constructor(
    private a: number,
    private b: number,
    private c: number,
    private d: number,
  ) {}

  /** A uniformly distributed unsigned 32-bit integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
}
