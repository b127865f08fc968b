/**
 * What both panel controllers share: the states before data is shown (loading, no saved record, no
 * permission, error), the current state with change notification, and the request generation that
 * lets a controller drop the results of superseded requests.
 */
import type { PanelDataClient } from './data-client.js';
import type { PanelRecord } from './host.js';

/** Every state of a panel except its own 'ready' state. */
export type PanelFrameState =
  | { kind: 'loading' }
  | { kind: 'noRecord' }
  | { kind: 'forbidden' }
  | { kind: 'error'; message: string };

export type PanelState<Ready extends { kind: 'ready' }> = PanelFrameState | Ready;

export class PanelController<Ready extends { kind: 'ready' }> {
  protected state: PanelState<Ready> = { kind: 'loading' };
  /** Incremented by each new load; a result whose generation is older is dropped. */
  protected generation = 0;
  protected nextLink: string | undefined;

  constructor(
    protected readonly client: PanelDataClient,
    protected readonly record: PanelRecord | undefined,
    protected readonly pageSize: number,
    private readonly onChange: (state: PanelState<Ready>) => void,
  ) {}

  get current(): PanelState<Ready> {
    return this.state;
  }

  protected set(state: PanelState<Ready>): void {
    this.state = state;
    this.onChange(state);
  }
}
