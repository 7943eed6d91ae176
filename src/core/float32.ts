/**
 * float32 helpers. Caffe stores everything as float32; where float32 rounding decides a discrete
 * outcome (RoI bin bounds, IoU against a threshold, NMS scores) we emulate it exactly.
 */

/** Round a double to the nearest float32 (ties to even), as a C `float` store does. */
export const fround: (x: number) => number = Math.fround;

/** Largest finite float32 (FLT_MAX). RoI pooling starts every non-empty bin at −FLT_MAX (SPEC §5.1). */
export const FLT_MAX = 3.4028234663852886e38;
/** Smallest normal float32 (FLT_MIN), Caffe SoftmaxWithLoss's clamp (SPEC §7). */
export const FLT_MIN = 1.1754943508222875e-38;
/** Double-precision machine epsilon 2^-52, the clamp of the OHEM mining loss (SPEC §1.2). */
export const DBL_EPSILON = 2 ** -52;

/**
 * C's `round` (and `roundf`): half away from zero, so −2.5 → −3 and 2.5 → 3.
 * Not `Math.round`, which rounds halves up (−2.5 → −2). SPEC §5.1, pitfall 14.
 * Exact for every float32 input: |x| + 0.5 is exact in double below 2^52.
 */
export const roundHalfAwayFromZero = (x: number): number =>
  x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);

/** C `(int)` truncation toward zero (labels and batch indices arrive as floats; SPEC §5.1, §7). */
export const truncToInt = (x: number): number => Math.trunc(x);

/** float32 product a·b of two float32 values. Exact double product, one float32 rounding. */
export const mul32 = (a: number, b: number): number => Math.fround(a * b);
/** float32 quotient a/b. The double quotient of two float32s rounds to the same float32 as C's `float` division. */
export const div32 = (a: number, b: number): number => Math.fround(a / b);
