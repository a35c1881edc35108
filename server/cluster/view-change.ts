/**
 * What a new membership view changes for one node (node.ts): which members
 * left and which arrived — a member being one life of a node (M8), so a
 * node back under the same name both left and arrived — whether this node
 * joined with it, and whether it gained resources; and the `view` event the
 * server acts on (binding.ts, B3).
 *
 * Pure: views and their rings in, names and answers out; the node decides
 * what to do with them.
 */

import { resourceKey, type Rendezvous } from '../../src/rendezvous.js';
import type { ExpectedClient } from './client-records.js';
import type { MemberRecord, View } from './membership.js';

export interface ViewChange {
  view: View;
  previous: View;
  /** Members of the previous view that are not in this one (their share is remastered on the survivors). */
  departed: string[];
  /** Whether this node masters the resource no more (the server drops its locks there and tells their holders). */
  lost: (domain: string, resource: string) => boolean;
  /** The resource's master under the new view. */
  movedTo: (domain: string, resource: string) => string | null;
  /** The server names the clients holding locks it lost to `node`, with their secrets' verifiers (called during the event). */
  holders: (node: string, clients: Iterable<ExpectedClient>) => void;
}

export interface ViewDiff {
  /** Lives of the previous view not in this one, by node name. */
  departed: string[];
  /** Lives of this view new to this node's view, other than its own, by node name. */
  arrived: string[];
  /** This node was not in the previous view (a node adopts only views that name it). */
  joinedNow: boolean;
  /** A member left (its share comes to the survivors), or this node joined a cluster with other members. */
  gained: boolean;
  /** The node names of the new view. */
  names: Set<string>;
}

export function diffViews(previous: View, v: View, self: string): ViewDiff {
  const prevNames = new Set(previous.members.map((m) => m.node));
  const names = new Set(v.members.map((m) => m.node));
  // A member is a life of a node (M8): one back as a new member under the same name left and arrived at once.
  const life = (m: MemberRecord): string => `${m.node}\0${m.incarnation ?? ''}`;
  const prevLives = new Set(previous.members.map(life));
  const nowLives = new Set(v.members.map(life));
  const departed = previous.members.filter((m) => !nowLives.has(life(m))).map((m) => m.node);
  const joinedNow = !prevNames.has(self);
  // Every member new to this node's view gets a handover list from it, an empty one when this node held nothing
  // (it joined itself): a joiner waits for one from each older member (N4), whatever order the views came in.
  const arrived = v.members.filter((m) => !prevLives.has(life(m)) && m.node !== self).map((m) => m.node);
  const gained = departed.length > 0 || (joinedNow && v.members.length > 1);
  return { departed, arrived, joinedNow, gained, names };
}

/**
 * The `view` event for the change from `previous` (mastered by `prevRing`)
 * to `v` (by `ring`): `holders` adds clients to the list kept for a member
 * that arrived (`lists`, by member), and ignores any other member.
 */
export function viewChange(
  previous: View, v: View, departed: string[], self: string, prevRing: Rendezvous, ring: Rendezvous, lists: Map<string, Map<string, string | null>>,
): ViewChange {
  return {
    view: v,
    previous,
    departed,
    lost: (domain, resource) => {
      const key = resourceKey(domain, resource);
      return prevRing.master(key) === self && ring.master(key) !== self;
    },
    movedTo: (domain, resource) => ring.master(resourceKey(domain, resource)),
    holders: (node, clients) => {
      const set = lists.get(node);
      if (set) for (const c of clients) set.set(c.id, c.verifier);
    },
  };
}
