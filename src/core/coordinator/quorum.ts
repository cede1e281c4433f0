import { assert } from '../assert.js';

/**
 * Counts replica answers for one request: done once `required` answered of
 * which at least `primariesRequired` are primaries; `complete` once every
 * replica answered (a doomed request waits for them, so `acknowledged` is the
 * truth about what was applied). Pure bookkeeping: the caller owns timers.
 */
export class QuorumCount {
  acknowledged = 0;
  primariesAcknowledged = 0;
  failed = 0;

  constructor(
    readonly required: number,
    readonly primariesRequired: number,
    /** Replicas asked in total and how many of them are primaries. */
    readonly asked: number,
    readonly primariesAsked: number,
  ) {
    assert(required >= 1 && primariesRequired >= 0, 'quorum: bad requirement');
    assert(primariesAsked <= asked, 'quorum: more primaries than replicas');
  }

  ack(primary: boolean): void {
    this.acknowledged++;
    if (primary) this.primariesAcknowledged++;
    assert(this.acknowledged + this.failed <= this.asked, 'quorum: more answers than asked');
  }

  fail(primary: boolean): void {
    this.failed++;
    assert(this.acknowledged + this.failed <= this.asked, 'quorum: more answers than asked');
  }

  met(): boolean {
    return this.acknowledged >= this.required && this.primariesAcknowledged >= this.primariesRequired;
  }

  complete(): boolean {
    return this.acknowledged + this.failed === this.asked;
  }

  /** The numbers for a quorum_not_met error: whichever requirement fell short. */
  shortfall(): { required: number; acknowledged: number; primary: boolean } {
    if (this.acknowledged < this.required) {
      return { required: this.required, acknowledged: this.acknowledged, primary: false };
    }
    return { required: this.primariesRequired, acknowledged: this.primariesAcknowledged, primary: true };
  }
}
