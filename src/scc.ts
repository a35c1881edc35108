/**
 * Strongly connected components, Tarjan's algorithm made iterative.
 *
 * Preconditions: `neighbors(v)` returns the out-neighbours of v among
 * `nodes` (others are ignored). Any directed graph, self-loops included.
 * Why not graphology-components' stronglyConnectedComponents: it recurses
 * once per node, and a wait chain of 100,000 owners (one queue) would
 * overflow the call stack. This keeps its own explicit stack: no recursion
 * on data whose size users control.
 *
 * Returns only components that contain a cycle: two or more nodes, or one
 * node with an edge to itself.
 */

export function cyclicComponents<V>(nodes: Iterable<V>, neighbors: (v: V) => readonly V[]): V[][] {
  const index = new Map<V, number>();
  const low = new Map<V, number>();
  const onStack = new Set<V>();
  const stack: V[] = [];
  const out: V[][] = [];
  let counter = 0;
  // Each frame: the node and the position in its neighbour list.
  const frames: Array<{ v: V; ns: readonly V[]; i: number }> = [];

  for (const root of nodes) {
    if (index.has(root)) continue;
    const enter = (v: V): void => {
      index.set(v, counter);
      low.set(v, counter);
      counter++;
      stack.push(v);
      onStack.add(v);
      frames.push({ v, ns: neighbors(v), i: 0 });
    };
    enter(root);
    while (frames.length > 0) {
      const f = frames[frames.length - 1]!;
      if (f.i < f.ns.length) {
        const w = f.ns[f.i++]!;
        if (!index.has(w)) enter(w);
        else if (onStack.has(w)) low.set(f.v, Math.min(low.get(f.v)!, index.get(w)!));
        continue;
      }
      frames.pop();
      if (frames.length > 0) {
        const parent = frames[frames.length - 1]!.v;
        low.set(parent, Math.min(low.get(parent)!, low.get(f.v)!));
      }
      if (low.get(f.v) === index.get(f.v)) {
        const comp: V[] = [];
        let w: V;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          comp.push(w);
        } while (w !== f.v);
        if (comp.length > 1 || f.ns.includes(f.v)) out.push(comp);
      }
    }
  }
  return out;
}
