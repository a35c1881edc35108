/**
 * A small typed event emitter. Listeners are kept per event in arrays that
 * are replaced, never mutated, so emitting while a listener unsubscribes is
 * safe; `has(name)` lets hot paths skip building a payload nobody reads.
 */

export type Listener<T> = (payload: T) => void;

export class TypedEmitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Listener<never>[]>();

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const list = this.listeners.get(event) ?? [];
    this.listeners.set(event, [...list, listener as Listener<never>]);
    return this;
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const list = this.listeners.get(event);
    if (list === undefined) return this;
    const rest = list.filter((l) => l !== listener);
    if (rest.length === 0) this.listeners.delete(event);
    else this.listeners.set(event, rest);
    return this;
  }

  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const wrapper: Listener<Events[K]> = (payload) => {
      this.off(event, wrapper);
      listener(payload);
    };
    return this.on(event, wrapper);
  }

  has(event: keyof Events): boolean {
    // The size first: with no listener at all (a library user's usual case)
    // the hot paths' two checks per lock + release are a field load, not
    // two Map lookups.
    return this.listeners.size !== 0 && this.listeners.has(event);
  }

  /**
   * Deliver to every listener. A listener that throws does not stop the
   * others or the lock operation that emitted: its error is re-thrown on a
   * later tick, where it surfaces as an uncaught exception like any bug.
   */
  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const list = this.listeners.get(event);
    if (list === undefined) return;
    for (const listener of list) {
      try {
        (listener as Listener<Events[K]>)(payload);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
