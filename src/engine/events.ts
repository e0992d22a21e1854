export type EngineEvent = {
  type: 'container' | 'image' | 'daemon' | 'network' | 'volume';
  action: string;
  id: string;
  attributes: Record<string, string>;
  timeNano: bigint;
};

type Listener = (e: EngineEvent) => void;

/**
 * Engine events (`docker events`). A bounded history serves `since` queries; listeners get
 * new events synchronously, so none is missed between a history read and a subscription.
 */
export class EventBus {
  readonly #listeners = new Set<Listener>();
  readonly #history: EngineEvent[] = [];
  readonly #max: number;

  constructor(max = 1000) {
    this.#max = max;
  }

  emit(type: EngineEvent['type'], action: string, id: string, attributes: Record<string, string> = {}): void {
    const e: EngineEvent = { type, action, id, attributes, timeNano: BigInt(Date.now()) * 1_000_000n };
    this.#history.push(e);
    if (this.#history.length > this.#max) this.#history.shift();
    for (const l of this.#listeners) l(e);
  }

  history(): readonly EngineEvent[] {
    return this.#history;
  }

  subscribe(l: Listener): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }
}
