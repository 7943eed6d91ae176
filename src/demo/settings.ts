/**
 * What a demo run was: the settings recorded in results.json and printed in the report.
 */
import type { MinerName, SamplerName } from './miners.js';
import type { WorldConfig } from './world.js';

export interface DemoSettings {
  readonly seeds: readonly number[];
  readonly samplers: readonly SamplerName[];
  /** The paired comparisons' reference (`standard` when it ran). */
  readonly reference: SamplerName | null;
  readonly iters: number;
  readonly evalEvery: number;
  readonly backend: string;
  readonly pooler: 'roi_pool' | 'roi_align';
  /** The attrs given to every step and to the evaluation for the pooler (none for roi_pool). */
  readonly poolerAttrs: Readonly<Record<string, unknown>>;
  readonly world: WorldConfig;
  readonly featureChannels: number;
  readonly pooled: number;
  readonly hidden: number;
  readonly roisPerImage: number;
  readonly dropout: number;
  readonly solver: { base_lr: number; gamma: number; stepsize: number; momentum: number; weight_decay: number; iter_size: number };
  /** The attrs each mining dialect ran with, and why. */
  readonly minerAttrs: Readonly<Partial<Record<MinerName, { readonly attrs: Readonly<Record<string, unknown>>; readonly reason: string }>>>;
  /** Worker threads used (changes the clock only). */
  readonly jobs: number;
}
