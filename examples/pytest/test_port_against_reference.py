"""How a PyTorch project tests its own RoI pooling and NMS against ohem-ref.

The "project" here is torchvision itself: `my_roi_pool` and `my_nms` below are what a detector
built on torchvision calls. Each is held against the reference (spawned once per session through
python/ohem_ref.py) on hand-written and random cases, and against the golden vectors within their
published tolerances.

Which reference attrs describe torchvision's conventions (torchvision 0.14, csrc/ops/cpu):

* roi_pool: every attr (pooled_h, pooled_w, spatial_scale) — the forward is Caffe's arithmetic, bit
  for bit. Backward: `mode="scatter"` (torchvision adds each bin's gradient at its argmax);
  Caffe's default `mode="caffe"` gathers with an in-RoI test and differs (shown below).
* nms: `box_convention="continuous"` (no +1 in areas), `ties="index_asc"` (a stable descending
  sort), `suppress="gt"` — *except* that torchvision compares the float32 IoU with the threshold
  as a double, the original with the threshold rounded to float32. They part exactly when
  fl32(t) > t and an IoU equals fl32(t) (t = 0.3: torchvision suppresses, the original keeps);
  a test below asserts that difference. `precision` follows the dtype the project passes in.

Golden cases whose attrs torchvision cannot express are skipped with the reason printed (-rs).

    OHEM_REF_COMMAND="node bin/ohem-ref.mjs serve" python3 -m pytest examples/pytest -q
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from ohem_ref import golden_cases  # noqa: E402  (conftest.py puts python/ on the path)

TV_NMS = {"box_convention": "continuous", "suppress": "gt", "ties": "index_asc"}


# ------------------------------------------------------------------------------ the project's ops


def my_roi_pool(features, rois, pooled_h=7, pooled_w=7, spatial_scale=0.0625):
    """The project's RoI pooling: torchvision's op, with the argmax the C++ op returns."""
    f = torch.from_numpy(np.ascontiguousarray(features))
    r = torch.from_numpy(np.ascontiguousarray(rois)).to(f.dtype)  # torchvision needs rois in the features' dtype
    top, argmax = torch.ops.torchvision.roi_pool(f, r, float(spatial_scale), int(pooled_h), int(pooled_w))
    return {"top": top.numpy(), "argmax": argmax.numpy().astype(np.int32)}


def my_roi_pool_grad(features, rois, top_grad, pooled_h, pooled_w, spatial_scale):
    """The gradient autograd gives the project (torchvision's backward)."""
    f = torch.from_numpy(np.ascontiguousarray(features)).requires_grad_(True)
    r = torch.from_numpy(np.ascontiguousarray(rois)).to(f.dtype)
    torchvision.ops.roi_pool(f, r, (pooled_h, pooled_w), spatial_scale).backward(torch.from_numpy(top_grad))
    return f.grad.numpy()


def my_nms(boxes, scores, threshold, precision="float32"):
    """The project's NMS: torchvision.ops.nms, in the precision the project works in."""
    dt = torch.float32 if precision == "float32" else torch.float64
    keep = torchvision.ops.nms(torch.from_numpy(boxes).to(dt), torch.from_numpy(scores).to(dt), float(threshold))
    return {"keep": keep.numpy().astype(np.int32)}


def assert_same(got, want, exact=True):
    for name, w in want.items():
        g = got[name]
        assert g.dtype == w.dtype and g.shape == w.shape, f"{name}: {g.dtype} {g.shape} vs {w.dtype} {w.shape}"
        if exact:
            same = (g == w) | (np.isnan(g) & np.isnan(w)) if g.dtype.kind == "f" else g == w
            assert same.all(), f"{name}: first difference at {np.argwhere(~same)[0].tolist()}: {g[~same][0]} vs {w[~same][0]}"


def f32(a):
    return np.asarray(a, dtype=np.float32)


# ------------------------------------------------------------------------------ roi_pool


RAMP_8x6 = np.arange(48, dtype=np.float32).reshape(1, 1, 8, 6)  # v = 6y + x

HAND_ROI_POOL = {
    # pytorch#11058's ramp: RoIPool of (0, 0, 3, 3) at 2x2 pools [7, 9, 19, 21]
    "ramp-2x2": (RAMP_8x6, f32([[0, 0, 0, 3, 3]]), dict(pooled_h=2, pooled_w=2, spatial_scale=1.0)),
    # C round, half away from zero: x1 * 1/16 = -0.5 -> -1 (not 0 as JS Math.round, not banker's)
    "c-round-negative-half": (np.arange(8, dtype=np.float32).reshape(1, 1, 1, 8), f32([[0, -8, 0, 56, 0]]),
                              dict(pooled_h=1, pooled_w=7, spatial_scale=0.0625)),
    # a 57-row RoI at 7 bins: float32 bin bounds pool row 57, one past the RoI's end (SPEC §5.1)
    "overshoot-57": (np.arange(64, dtype=np.float32).reshape(1, 1, 64, 1), f32([[0, 0, 0, 0, 56]]),
                     dict(pooled_h=7, pooled_w=1, spatial_scale=1.0)),
    # a RoI partly off the map: empty bins give 0 with argmax -1
    "off-map-empty-bins": (np.ones((1, 1, 4, 4), np.float32), f32([[0, 2, 2, 9, 9]]), dict(pooled_h=2, pooled_w=2, spatial_scale=1.0)),
    # equal maxima: the first in row-major order wins
    "max-ties-first-wins": (np.full((1, 1, 3, 3), 5, np.float32), f32([[0, 0, 0, 2, 2]]), dict(pooled_h=1, pooled_w=1, spatial_scale=1.0)),
    # a malformed RoI (x2 < x1) is forced to one cell
    "malformed-roi": (RAMP_8x6, f32([[0, 4, 3, 1, 1]]), dict(pooled_h=2, pooled_w=2, spatial_scale=1.0)),
    # two images, batch index truncated: 1.9 -> image 1
    "batch-index-truncates": (np.stack([RAMP_8x6[0], -RAMP_8x6[0]]), f32([[1.9, 0, 0, 5, 7]]), dict(pooled_h=3, pooled_w=2, spatial_scale=1.0)),
}


@pytest.mark.parametrize("name", sorted(HAND_ROI_POOL))
def test_roi_pool_hand_cases(ref, name):
    features, rois, attrs = HAND_ROI_POOL[name]
    assert_same(my_roi_pool(features, rois, **attrs), ref.roi_pool(features, rois, **attrs))


def test_roi_pool_ramp_values(ref):
    features, rois, attrs = HAND_ROI_POOL["ramp-2x2"]
    assert my_roi_pool(features, rois, **attrs)["top"].ravel().tolist() == [7, 9, 19, 21]


def random_roi_pool_case(rng):
    n, c = int(rng.integers(1, 3)), int(rng.integers(1, 4))
    h, w = int(rng.integers(1, 24)), int(rng.integers(1, 24))
    scale = float(rng.choice([1.0, 0.5, 0.25, 0.0625]))
    ph, pw = int(rng.integers(1, 8)), int(rng.integers(1, 8))
    r = int(rng.integers(0, 7))
    features = rng.standard_normal((n, c, h, w)).astype(np.float32)
    features[rng.random(features.shape) < 0.1] = 0.0  # some equal maxima
    span_w, span_h = (w + 4) / scale, (h + 4) / scale
    xs = np.sort(rng.uniform(-4 / scale, span_w, (r, 2)), axis=1)
    ys = np.sort(rng.uniform(-4 / scale, span_h, (r, 2)), axis=1)
    coords = np.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], axis=1)
    coords = np.round(coords * scale * 2) / 2 / scale  # coord * scale on halves: C round's ties
    flip = rng.random(r) < 0.15  # some malformed RoIs
    coords[flip] = coords[flip][:, [2, 3, 0, 1]]
    rois = np.concatenate([rng.integers(0, n, (r, 1)) + rng.choice([0.0, 0.5], (r, 1)), coords], axis=1).astype(np.float32)
    return features, rois, dict(pooled_h=ph, pooled_w=pw, spatial_scale=scale)


@pytest.mark.parametrize("seed", range(30))
def test_roi_pool_random(ref, seed):
    features, rois, attrs = random_roi_pool_case(np.random.default_rng(seed))
    assert_same(my_roi_pool(features, rois, **attrs), ref.roi_pool(features, rois, **attrs))


@pytest.mark.parametrize("seed", range(15))
def test_roi_pool_backward_is_the_scatter_mode(ref, seed):
    rng = np.random.default_rng(1000 + seed)
    features, rois, attrs = random_roi_pool_case(rng)
    fwd = ref.roi_pool(features, rois, **attrs)
    top_grad = rng.standard_normal(fwd.top.shape).astype(np.float32)
    mine = my_roi_pool_grad(features, rois, top_grad, attrs["pooled_h"], attrs["pooled_w"], attrs["spatial_scale"])
    theirs = ref.roi_pool_backward(rois, fwd.argmax, top_grad, mode="scatter", features_shape=list(features.shape), **attrs)
    assert_same({"features_grad": mine}, theirs)


def test_roi_pool_backward_caffe_drops_the_overshoot_row(ref):
    """Expected divergence (SPEC §5.2): the 57-row RoI's last bin pools row 57, one past the RoI;
    Caffe's gather backward tests "inside the RoI" and drops that row's gradient, torchvision's
    scatter backward gives it."""
    features, rois, attrs = HAND_ROI_POOL["overshoot-57"]
    fwd = ref.roi_pool(features, rois, **attrs)
    assert fwd.argmax.ravel()[-1] == 57  # the last bin's maximum is row 57
    top_grad = np.ones(fwd.top.shape, np.float32)
    mine = my_roi_pool_grad(features, rois, top_grad, **{k: attrs[k] for k in ("pooled_h", "pooled_w", "spatial_scale")})
    caffe = ref.roi_pool_backward(rois, fwd.argmax, top_grad, mode="caffe", features_shape=list(features.shape), **attrs).features_grad
    scatter = ref.roi_pool_backward(rois, fwd.argmax, top_grad, mode="scatter", features_shape=list(features.shape), **attrs).features_grad
    assert mine[0, 0, 57, 0] == 1.0 and caffe[0, 0, 57, 0] == 0.0
    np.testing.assert_array_equal(mine, scatter)
    differs = np.argwhere(mine != caffe)[:, 2].tolist()
    assert differs == [57], f"torchvision and Caffe differ only in the overshoot row, got rows {differs}"


# ------------------------------------------------------------------------------ nms


def test_nms_spec_vector_continuous(ref):
    """SPEC §4's vector in torchvision's (continuous) convention: (0,0,9,9) vs (1,1,10,10) has IoU
    64/98 (kept at 0.7), vs (0,0,9,8) 72/81 (suppressed)."""
    boxes = f32([[0, 0, 9, 9], [1, 1, 10, 10], [0, 0, 9, 8]])
    scores = f32([0.9, 0.8, 0.7])
    mine = my_nms(boxes, scores, 0.7)
    assert mine["keep"].tolist() == [0, 1]
    assert_same(mine, ref.nms(boxes, scores, threshold=0.7, **TV_NMS))


def random_boxes(rng, n, integer):
    xy = rng.uniform(0, 40, (n, 2))
    wh = rng.uniform(0, 25, (n, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1)
    return np.round(boxes) if integer else boxes


# thresholds whose float32 is not above them: there torchvision's rule is the original's "gt"
SAFE_THRESHOLDS = [0.5, 0.7, 0.45, 0.25]


@pytest.mark.parametrize("seed", range(30))
def test_nms_random(ref, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 40))
    precision = "float32" if seed % 3 else "float64"
    dt = np.float32 if precision == "float32" else np.float64
    boxes = random_boxes(rng, n, integer=seed % 2 == 0).astype(dt)
    scores = rng.permutation(n).astype(dt) / max(n, 1)  # distinct: the tie rule is not what is tested here
    threshold = SAFE_THRESHOLDS[seed % len(SAFE_THRESHOLDS)]
    assert float(np.float32(threshold)) <= threshold
    assert_same(my_nms(boxes, scores, threshold, precision), ref.nms(boxes, scores, threshold=threshold, precision=precision, **TV_NMS))


def test_nms_ties_are_index_asc(ref):
    boxes = f32([[0, 0, 1, 1], [10, 10, 11, 11], [20, 20, 21, 21]])
    scores = f32([0.5, 0.5, 0.5])
    mine = my_nms(boxes, scores, 0.7)
    assert mine["keep"].tolist() == [0, 1, 2]
    assert_same(mine, ref.nms(boxes, scores, threshold=0.7, **TV_NMS))
    # the original's argsort()[::-1] (the reference's default) puts equal scores the other way round
    assert ref.nms(boxes, scores, threshold=0.7, box_convention="continuous").keep.tolist() == [2, 1, 0]


def test_nms_no_plus1(ref):
    """Expected divergence: py-faster-rcnn's +1 convention. (0,0,9,9) vs (1,1,10,10): IoU 81/119 =
    0.681 with +1, 64/98 = 0.653 continuous; at threshold 0.66 the original suppresses, torchvision keeps."""
    boxes = f32([[0, 0, 9, 9], [1, 1, 10, 10]])
    scores = f32([0.9, 0.8])
    mine = my_nms(boxes, scores, 0.66)["keep"].tolist()
    assert mine == [0, 1]
    assert ref.nms(boxes, scores, threshold=0.66, **TV_NMS).keep.tolist() == mine
    assert ref.nms(boxes, scores, threshold=0.66, box_convention="plus1", suppress="gt", ties="index_asc").keep.tolist() == [0]


def test_nms_iou_exactly_fl32_threshold_is_a_known_divergence(ref):
    """Expected divergence: IoU exactly fl32(0.3). (0,0,3,1) inside (0,0,10,1): IoU 3/10, which
    float32 holds as 0.30000001. The original (suppress "gt") compares it with fl32(0.3) and keeps
    the box; torchvision compares it with the double 0.3 and suppresses it — the Cython NMS's
    ">=" answer. At a threshold whose float32 is not above it (0.5) the two agree."""
    boxes = f32([[0, 0, 10, 1], [0, 0, 3, 1]])
    scores = f32([0.9, 0.8])
    assert np.float32(3) / np.float32(10) == np.float32(0.3) and float(np.float32(0.3)) > 0.3
    mine = my_nms(boxes, scores, 0.3)["keep"].tolist()
    gt = ref.nms(boxes, scores, threshold=0.3, **TV_NMS).keep.tolist()
    ge = ref.nms(boxes, scores, threshold=0.3, **{**TV_NMS, "suppress": "ge"}).keep.tolist()
    assert (mine, gt, ge) == ([0], [0, 1], [0])
    # at 0.5 (exact in float32): IoU 5/10 is kept by both
    half = f32([[0, 0, 10, 1], [0, 0, 5, 1]])
    assert my_nms(half, scores, 0.5)["keep"].tolist() == ref.nms(half, scores, threshold=0.5, **TV_NMS).keep.tolist() == [0, 1]


# ------------------------------------------------------------------------------ golden vectors


ROI_POOL_GOLDEN = list(golden_cases("roi_pool"))
NMS_GOLDEN = list(golden_cases("nms"))


def test_golden_sets_are_present():
    assert ROI_POOL_GOLDEN and NMS_GOLDEN


@pytest.mark.parametrize("case", ROI_POOL_GOLDEN, ids=lambda c: c.name)
def test_golden_roi_pool(case):
    """Every roi_pool attr is torchvision's: all golden cases must pass, bit for bit (float64
    rois are cast to the features' float32, as the project does)."""
    a = case.attrs
    case.check(my_roi_pool(case.inputs["features"], case.inputs["rois"], a["pooled_h"], a["pooled_w"], a["spatial_scale"]))


def nms_inexpressible(case):
    """Why torchvision cannot be asked this case, or None."""
    a = case.attrs
    if a.get("box_convention", "plus1") != "continuous":
        return "box_convention plus1: torchvision's areas are (x2 - x1) * (y2 - y1), without the +1"
    if a.get("suppress", "gt") != "gt":
        return "suppress ge: torchvision suppresses IoU > threshold only"
    dt = np.float32 if a.get("precision", "float32") == "float32" else np.float64
    scores = case.inputs["scores"].astype(dt)
    if a.get("ties", "index_desc") != "index_asc" and len(np.unique(scores)) < scores.size:
        return f"ties {a.get('ties', 'index_desc')} with equal {dt.__name__} scores: torchvision orders ties index_asc"
    return None


@pytest.mark.parametrize("case", NMS_GOLDEN, ids=lambda c: c.name)
def test_golden_nms(case):
    reason = nms_inexpressible(case)
    if reason:
        pytest.skip(f"{case.name}: {reason}")
    a = case.attrs
    case.check(my_nms(case.inputs["boxes"], case.inputs["scores"], a["threshold"], a.get("precision", "float32")))
