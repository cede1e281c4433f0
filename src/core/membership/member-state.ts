import type { MemberInfo, MemberStatus } from '../messages.js';

/**
 * The precedence rules of gossip (memberlist aliveNode / suspectNode /
 * deadNode), as pure functions. The incarnation number orders a member's
 * facts: only the member itself raises it (on every start, and to refute a
 * suspicion). At one incarnation, dead and left beat suspect, which beats
 * alive; a higher incarnation of alive beats everything.
 *
 * Statuses: joining / alive / leaving are "live" (the member runs and answers
 * probes; they differ in ring role: not yet an owner, owner, handing off),
 * suspect is live-until-proven-dead, dead and left are gone (left: on
 * purpose, forever at that incarnation).
 */

const LIVE: ReadonlySet<MemberStatus> = new Set(['joining', 'alive', 'leaving']);

/**
 * Largest incarnation gossip accepts. Incarnations are persisted as 4 bytes
 * (src/node/node.ts), and a refutation adds 1: a record beyond this (garbage,
 * or a bug elsewhere) is ignored rather than allowed to push ours past what
 * the next start can read back.
 */
export const INCARNATION_MAX = 0xffff_fff0;

/** Runs and answers probes, as far as we know. */
export function isLive(status: MemberStatus): boolean {
  return LIVE.has(status);
}

/** Declared dead, or left the cluster. */
export function isGone(status: MemberStatus): boolean {
  return status === 'dead' || status === 'left';
}

/**
 * What to do with an update about another member, given what we know:
 * `apply` it (new state), `confirm` an ongoing suspicion (Lifeguard), or
 * `ignore` it (stale, or no news).
 */
export type Verdict = 'apply' | 'confirm' | 'ignore';

export function judge(known: Pick<MemberInfo, 'status' | 'incarnation'> | undefined, update: Pick<MemberInfo, 'status' | 'incarnation'>): Verdict {
  if (known === undefined) return 'apply';
  const newer = update.incarnation > known.incarnation;
  const notOlder = update.incarnation >= known.incarnation;
  switch (update.status) {
    case 'joining':
    case 'alive':
    case 'leaving':
      return newer ? 'apply' : 'ignore';
    case 'suspect':
      if (isGone(known.status) || !notOlder) return 'ignore';
      if (known.status === 'suspect') return newer ? 'apply' : 'confirm';
      return 'apply';
    case 'dead':
      return !isGone(known.status) && notOlder ? 'apply' : 'ignore';
    case 'left':
      return known.status !== 'left' && notOlder ? 'apply' : 'ignore';
  }
}

/**
 * Whether an update about ourselves must be refuted by raising our
 * incarnation above it: any suspicion or death at our incarnation or later,
 * and any record of us newer than ours (left over from an earlier life whose
 * incarnation this one does not know, e.g. after a wipe).
 */
export function mustRefute(self: Pick<MemberInfo, 'status' | 'incarnation'>, update: Pick<MemberInfo, 'status' | 'incarnation'>): boolean {
  if (update.incarnation > self.incarnation) return true;
  if (update.incarnation < self.incarnation) return false;
  if (update.status === 'left') return self.status !== 'leaving' && self.status !== 'left';
  return !isLive(update.status);
}

/**
 * A member's record as restored from disk: a suspicion has no timer left to
 * finish it, so it starts over as alive, one incarnation back. The status it
 * was suspected in is unknown (alive, joining or leaving), and only a record
 * that any news of that incarnation overrides cannot hide it: "alive" at the
 * same incarnation would ignore the member's own "leaving" (found by
 * `npm run sim -- --changes --w 1 --r 1 --seed 9376`: a restarted claimant
 * saw a leaver as alive forever, and never claimed its leave).
 */
export function restored(member: MemberInfo): MemberInfo {
  return member.status === 'suspect' ? { ...member, status: 'alive', incarnation: Math.max(0, member.incarnation - 1) } : member;
}
