/** Randomness as the core sees it: seeded in the simulator, crypto-seeded in production. */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, bound). */
  int(bound: number): number;
}
