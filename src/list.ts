/**
 * Intrusive doubly linked FIFO: the nodes carry their own links, so taking
 * the head and removing a cancelled waiter from the middle are O(1) and
 * allocate nothing, however long the queue (no Array.shift or splice).
 *
 * Invariant: a node is in at most one list; `list === null` exactly when it
 * is in none, and then prev === next === null.
 */

import { assert } from './assert.js';

export interface ListNode<T extends ListNode<T>> {
  prev: T | null;
  next: T | null;
  list: LinkedList<T> | null;
}

export class LinkedList<T extends ListNode<T>> {
  head: T | null = null;
  tail: T | null = null;
  size = 0;

  push(node: T): void {
    assert(node.list === null, 'node already queued');
    node.list = this;
    node.prev = this.tail;
    node.next = null;
    if (this.tail === null) this.head = node;
    else this.tail.next = node;
    this.tail = node;
    this.size++;
  }

  unshift(node: T): void {
    assert(node.list === null, 'node already queued');
    node.list = this;
    node.next = this.head;
    node.prev = null;
    if (this.head === null) this.tail = node;
    else this.head.prev = node;
    this.head = node;
    this.size++;
  }

  /** Put `node` right before `before` (which must be in this list). */
  insertBefore(node: T, before: T): void {
    assert(before.list === this && node.list === null, 'bad insertBefore');
    node.list = this;
    node.next = before;
    node.prev = before.prev;
    if (before.prev === null) this.head = node;
    else before.prev.next = node;
    before.prev = node;
    this.size++;
  }

  remove(node: T): void {
    assert(node.list === this, 'node not in this list');
    if (node.prev === null) this.head = node.next;
    else node.prev.next = node.next;
    if (node.next === null) this.tail = node.prev;
    else node.next.prev = node.prev;
    node.prev = null;
    node.next = null;
    node.list = null;
    this.size--;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let n = this.head; n !== null; ) {
      const next = n.next; // the caller may remove n
      yield n;
      n = next;
    }
  }
}
