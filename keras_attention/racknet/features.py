"""RACKNet local features: SIFT keypoints and their scope entropies (dissertation §3.4.3-3.4.4.1;
docs/methods/racknet.md#racknet-keypoints).

Every keypoint carries the three things RACKNet reads from it:

* its octave (Obs. 1), unpacked from ``kp.octave`` exactly as OpenCV packs it: the low byte is the
  octave as a signed 8-bit integer (-1 is the octave of the internally doubled image, which OpenCV
  builds by default), the second byte is the layer inside the octave, the third byte the sub-layer
  offset (ignored);
* its scope: centre ``kp.pt``, ``sigma = kp.size / 2`` and radius ``3 * sigma``; the scope is the square
  of pixels within ``+-3 sigma`` of the centre in both directions (§3.4.4.1), clipped to the image;
* its complexity: the Shannon entropy, in bits, of the 8-bit pixel values in its scope (§3.4.4.1).

Readings where the dissertation is silent (docs/methods/racknet.md#racknet-keypoints):

* ``upscale``: tiny images (8x8 digits) give SIFT almost nothing to detect, so images can be enlarged
  by an integer factor (``cv2.resize``, bicubic) before detection. Keypoint centres and sizes are then
  mapped back to the original pixel grid (``x = (x_up + 0.5) / upscale - 0.5``, ``size / upscale``),
  and entropies are always taken on the original 8-bit pixels, so that complexity describes the data
  set and not the interpolation. Octave ids stay the ones SIFT reports on the enlarged image.
* Colour images are converted to gray (ITU-R 601 weights ``0.299 R + 0.587 G + 0.114 B``); float
  images in ``[0, 1]`` become ``round(255 * x)``.
* SIFT returns one keypoint per dominant orientation, so a location can appear more than once; every
  such keypoint is kept (as OpenCV reports them).
* Descriptors are stored as ``uint8``: OpenCV saturates every SIFT descriptor entry to ``[0, 255]``
  integers before storing them as float32, so the cast is lossless.
* Entropies are vectorised over keypoints: scopes are gathered in batches on a padded grid and their
  values counted with one ``bincount`` per batch (``WINDOW_BATCH_ELEMENTS`` pixels at most).
"""

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType
from typing import Any, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from keras_attention.utils.checks import check_bool, check_positive_int
from keras_attention.utils.extras import import_optional

#: Most pixels gathered at once when counting scope values (bounds the memory of the entropy phase).
WINDOW_BATCH_ELEMENTS = 1 << 22


def require_cv2() -> ModuleType:
    """Import OpenCV lazily; raise an ImportError that says how to install it (the ``vision`` extra)."""
    cv2 = import_optional("cv2", "keras_attention.racknet (OpenCV's SIFT, cv2.SIFT_create)")
    if not hasattr(cv2, "SIFT_create"):  # pragma: no cover - OpenCV < 4.4
        raise ImportError(
            f"OpenCV {cv2.__version__} has no cv2.SIFT_create (needs OpenCV >= 4.4). Install a newer one "
            "with `pip install -U keras-attention[vision]`."
        )
    return cv2


@overload
def unpack_octave(value: int | np.integer[Any]) -> tuple[int, int]: ...


@overload
def unpack_octave(value: NDArray[np.integer[Any]]) -> tuple[NDArray[np.int64], NDArray[np.int64]]: ...


def unpack_octave(
    value: int | np.integer[Any] | NDArray[np.integer[Any]],
) -> tuple[int, int] | tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Unpack OpenCV's packed ``KeyPoint.octave`` into ``(octave, layer)``.

    ``octave`` is the low byte read as a signed 8-bit integer (-1 for the doubled-image octave),
    ``layer`` the second byte, the third byte (sub-layer offset) is ignored
    (docs/methods/racknet.md#racknet-keypoints). The octave decides a keypoint's rack (Obs. 1).

    Args:
        value: a packed ``kp.octave``: a Python or numpy integer, or an integer numpy array (element-wise).

    Returns:
        ``(octave, layer)``: two ints for a scalar, two int64 arrays for an array.

    Raises:
        ValueError: ``value`` is not an integer (a bool, a float, a non-integer array).

    Example:
        >>> import numpy as np
        >>> from keras_attention.racknet import unpack_octave
        >>> unpack_octave(0x00FF)  # octave -1: the internally doubled image
        (-1, 0)
        >>> unpack_octave(0x0201)
        (1, 2)
        >>> octave, layer = unpack_octave(np.array([0x00FF, 0x0201, 0x010302]))
        >>> octave.tolist(), layer.tolist()
        ([-1, 1, 2], [0, 2, 3])
    """
    if isinstance(value, (bool, np.bool_)) or not (
        isinstance(value, (int, np.integer))
        or (isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.integer))
    ):
        raise ValueError(f"Argument `value` must be an integer (a packed KeyPoint.octave); got {value!r}.")
    v = np.asarray(value).astype(np.int64)
    octave = ((v & 0xFF) ^ 0x80) - 0x80
    layer = (v >> 8) & 0xFF
    if np.ndim(v) == 0:
        return int(octave), int(layer)
    return octave, layer


def to_gray_uint8(images: ArrayLike, argument: str = "images") -> NDArray[np.uint8]:
    """Validate ``images`` and return them as an ``(N, H, W)`` uint8 array.

    Colour images become gray with the ITU-R 601 weights ``0.299 R + 0.587 G + 0.114 B``, float images
    ``round(255 * x)`` (docs/methods/racknet.md#racknet-keypoints).

    Args:
        images: uint8 (0..255) or float in ``[0, 1]``, shaped ``(N, H, W)`` or ``(N, H, W, 1|3)``.
        argument: the name error messages give ``images``.

    Returns:
        The gray images, a C-contiguous uint8 array ``(N, H, W)``.

    Raises:
        ValueError: another shape or dtype, an empty axis, or floats outside ``[0, 1]`` or not finite.

    Example:
        >>> import numpy as np
        >>> from keras_attention.racknet import to_gray_uint8
        >>> gray = to_gray_uint8(np.array([[[0.0, 0.5], [1.0, 0.25]]]))
        >>> gray.shape, str(gray.dtype), gray.tolist()
        ((1, 2, 2), 'uint8', [[[0, 128], [255, 64]]])
        >>> red = np.zeros((1, 2, 2, 3), dtype=np.uint8)
        >>> red[..., 0] = 255
        >>> to_gray_uint8(red).tolist()  # round(0.299 * 255)
        [[[76, 76], [76, 76]]]
    """
    if not isinstance(images, np.ndarray):
        try:
            images = np.asarray(images)
        except Exception as error:  # noqa: BLE001
            raise ValueError(f"Argument `{argument}` must be an array of images; got {type(images)!r}.") from error
    shape = tuple(images.shape)
    expected = "uint8 (0..255) or float in [0, 1], shaped (N, H, W) or (N, H, W, 1|3)"
    if images.ndim not in (3, 4) or (images.ndim == 4 and shape[-1] not in (1, 3)) or min(shape) == 0:
        raise ValueError(f"Argument `{argument}` must be {expected}; got shape {shape} (dtype {images.dtype}).")
    if images.dtype == np.uint8:
        gray = images
    elif np.issubdtype(images.dtype, np.floating):
        if not np.all(np.isfinite(images)):
            raise ValueError(f"Argument `{argument}` must be {expected}; got non-finite values (NaN or inf).")
        low, high = float(images.min()), float(images.max())
        if low < 0.0 or high > 1.0:
            raise ValueError(
                f"Argument `{argument}` must be {expected}; got dtype {images.dtype} with values in "
                f"[{low:g}, {high:g}] (divide by the maximum, e.g. 255 or 16, first)."
            )
        gray = images.astype(np.float64)
    else:
        raise ValueError(f"Argument `{argument}` must be {expected}; got dtype {images.dtype} and shape {shape}.")
    if gray.ndim == 4:
        if shape[-1] == 3:
            gray = gray.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        else:
            gray = gray[..., 0]
    if gray.dtype != np.uint8:
        scale = 255.0 if np.issubdtype(images.dtype, np.floating) else 1.0
        gray = np.clip(np.rint(gray * scale), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(gray)


def scope_bounds(
    x: ArrayLike, y: ArrayLike, radius: ArrayLike, height: int, width: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Inclusive pixel bounds ``(x0, x1, y0, y1)`` of the square scopes ``|u - x| <= r, |v - y| <= r``.

    The scope of a keypoint is the square within ``+-3 sigma`` of its centre (``r = 3 sigma``; dissertation
    §3.4.4.1, docs/methods/racknet.md#racknet-keypoints).

    Args:
        x: column of each centre (OpenCV's ``kp.pt[0]``: pixel centres at integers).
        y: row of each centre.
        radius: half side ``r`` of each square.
        height: image height, in pixels.
        width: image width, in pixels.

    Returns:
        Four int64 arrays shaped like ``x``, clipped to the image; a scope always holds at least the pixel
        nearest to its centre.

    Example:
        >>> from keras_attention.racknet import scope_bounds
        >>> x0, x1, y0, y1 = scope_bounds([2.0, 0.4], [3.0, 7.0], [1.5, 3.0], height=8, width=8)
        >>> x0.tolist(), x1.tolist(), y0.tolist(), y1.tolist()
        ([1, 0], [3, 3], [2, 4], [4, 7])
    """
    x, y, radius = (np.asarray(a, dtype=np.float64) for a in (x, y, radius))
    cx = np.clip(np.rint(x), 0, width - 1).astype(np.int64)
    cy = np.clip(np.rint(y), 0, height - 1).astype(np.int64)
    x0 = np.minimum(np.clip(np.ceil(x - radius - 1e-9), 0, width - 1).astype(np.int64), cx)
    x1 = np.maximum(np.clip(np.floor(x + radius + 1e-9), 0, width - 1).astype(np.int64), cx)
    y0 = np.minimum(np.clip(np.ceil(y - radius - 1e-9), 0, height - 1).astype(np.int64), cy)
    y1 = np.maximum(np.clip(np.floor(y + radius + 1e-9), 0, height - 1).astype(np.int64), cy)
    return x0, x1, y0, y1


def _entropy_bits(counts: ArrayLike) -> NDArray[np.float64]:
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum(axis=-1, keepdims=True)
    p = counts / np.maximum(total, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0)
    return np.maximum(-terms.sum(axis=-1), 0.0)


def _window_entropies(
    gray: NDArray[np.uint8],
    image: NDArray[np.int64],
    x0: NDArray[np.int64],
    x1: NDArray[np.int64],
    y0: NDArray[np.int64],
    y1: NDArray[np.int64],
) -> NDArray[np.float64]:
    """Entropies of the inclusive windows ``gray[image, y0:y1+1, x0:x1+1]``, vectorised over windows.

    Windows are processed in batches of similar area: each batch gathers its pixels on a padded
    ``(K, Dy, Dx)`` grid, masks the padding, and counts values with one ``bincount`` over
    ``window * 256 + value``.
    """
    n = image.size
    entropy = np.zeros(n)
    if n == 0:
        return entropy
    heights, widths = y1 - y0 + 1, x1 - x0 + 1
    order = np.argsort(heights * widths, kind="stable")
    start = 0
    while start < n:
        stop = start + 1
        dy, dx = heights[order[start]], widths[order[start]]
        while stop < n:
            ny, nx = max(dy, heights[order[stop]]), max(dx, widths[order[stop]])
            if (stop - start + 1) * ny * nx > WINDOW_BATCH_ELEMENTS:
                break
            dy, dx, stop = ny, nx, stop + 1
        rows = order[start:stop]
        oy = np.arange(dy)[None, :, None]
        ox = np.arange(dx)[None, None, :]
        yy = y0[rows][:, None, None] + oy
        xx = x0[rows][:, None, None] + ox
        valid = (yy <= y1[rows][:, None, None]) & (xx <= x1[rows][:, None, None])
        values = gray[image[rows][:, None, None], np.minimum(yy, gray.shape[1] - 1), np.minimum(xx, gray.shape[2] - 1)]
        keys = (np.arange(rows.size)[:, None, None] * 256 + values.astype(np.int64))[valid]
        counts = np.bincount(keys, minlength=rows.size * 256).reshape(rows.size, 256)
        entropy[rows] = _entropy_bits(counts)
        start = stop
    return entropy


def scope_entropies(image: ArrayLike, x: ArrayLike, y: ArrayLike, radius: ArrayLike) -> NDArray[np.float64]:
    """Entropy (bits) of the 8-bit values of ``image`` (H, W uint8) in each keypoint's square scope.

    The complexity of a feature, ``E(F) = -sum_a P(a) log2 P(a)`` over the pixel values ``a`` of its scope
    (dissertation §3.4.4.1; docs/methods/racknet.md#racknet-layers); scopes as :func:`scope_bounds`.

    Args:
        image: one gray image, a 2-D uint8 array.
        x: column of each keypoint (OpenCV's ``kp.pt`` convention: pixel centres at integers).
        y: row of each keypoint.
        radius: scope half side of each keypoint (``3 sigma``).

    Returns:
        float64 array of the entropies, one per keypoint.

    Raises:
        ValueError: ``image`` is not a 2-D uint8 array, or ``x``, ``y``, ``radius`` are not 1-D arrays of one
            length.

    Example:
        >>> import numpy as np
        >>> from keras_attention.racknet import scope_entropies
        >>> image = np.zeros((8, 8), dtype=np.uint8)
        >>> image[:, 4:] = 255  # a vertical edge
        >>> np.round(scope_entropies(image, x=[3.5, 1.0, 2.0], y=[3.5, 1.0, 4.0], radius=[0.5, 1.0, 2.0]), 3).tolist()
        [1.0, 0.0, 0.722]
    """
    image = np.asarray(image)
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(
            f"Argument `image` must be a 2-D uint8 array; got shape {tuple(image.shape)} and dtype {image.dtype}."
        )
    x, y, radius = (np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (x, y, radius))
    if not (x.shape == y.shape == radius.shape and x.ndim == 1):
        raise ValueError(
            f"Arguments `x`, `y`, `radius` must be 1-D arrays of one length; got shapes {x.shape}, {y.shape}, "
            f"{radius.shape}."
        )
    x0, x1, y0, y1 = scope_bounds(x, y, radius, *image.shape)
    return _window_entropies(image[None], np.zeros(x.size, dtype=np.int64), x0, x1, y0, y1)


@dataclass
class Keypoints:
    """SIFT keypoints of a set of images, flattened: one row per keypoint (what :func:`detect_keypoints` returns).

    ``len(keypoints)`` is their number ``K``; ``sigma`` (``size / 2``) and ``radius`` (``3 sigma``, the scope's
    half side) are derived (docs/methods/racknet.md#racknet-keypoints).

    Args:
        image: ``(K,)`` index of each keypoint's image.
        x: ``(K,)`` column of each centre on the original pixel grid.
        y: ``(K,)`` row of each centre.
        size: ``(K,)`` OpenCV's ``kp.size`` on the original pixel grid.
        octave: ``(K,)`` octave, unpacked from ``kp.octave`` (:func:`unpack_octave`).
        layer: ``(K,)`` layer inside the octave.
        descriptors: ``(K, 128)`` uint8 SIFT descriptors.
        n_images: number of images searched.
        entropy: ``(K,)`` scope entropies in bits, or None until :func:`keypoint_entropies` fills it.

    Example:
        >>> import numpy as np
        >>> from keras_attention.racknet import Keypoints
        >>> keypoints = Keypoints(image=np.array([0, 0]), x=np.array([3.0, 5.5]), y=np.array([4.0, 2.0]),
        ...                       size=np.array([2.0, 4.0]), octave=np.array([0, 1]), layer=np.array([1, 2]),
        ...                       descriptors=np.zeros((2, 128), dtype=np.uint8), n_images=1)
        >>> len(keypoints), keypoints.radius.tolist(), keypoints.entropy
        (2, [3.0, 6.0], None)
    """

    image: NDArray[np.int64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    size: NDArray[np.float64]
    octave: NDArray[np.int64]
    layer: NDArray[np.int64]
    descriptors: NDArray[np.uint8]
    n_images: int
    entropy: NDArray[np.float64] | None = None

    def __len__(self) -> int:
        return int(self.image.size)

    @property
    def sigma(self) -> NDArray[np.float64]:
        """The keypoints' scale ``sigma = size / 2``."""
        return self.size / 2.0

    @property
    def radius(self) -> NDArray[np.float64]:
        """The half side of their scopes, ``3 * sigma``."""
        return 3.0 * self.sigma


def _resolve_jobs(n_jobs: int | None) -> int:
    if n_jobs is None:
        return max(1, min(8, os.cpu_count() or 1))
    return check_positive_int("n_jobs", n_jobs)


def _chunks(n: int, n_jobs: int) -> list[tuple[int, int]]:
    size = max(16, min(512, -(-n // (4 * n_jobs))))
    return [(start, min(n, start + size)) for start in range(0, n, size)]


def _detect_chunk(
    gray: NDArray[np.uint8], start: int, stop: int, upscale: int, sift_params: dict[str, Any], bar: Any
) -> dict[str, list[NDArray[Any]]]:
    cv2 = require_cv2()
    sift = cv2.SIFT_create(**sift_params)
    rows: dict[str, list[NDArray[Any]]] = {"image": [], "x": [], "y": [], "size": [], "packed": [], "descriptors": []}
    for index in range(start, stop):
        image = gray[index]
        if upscale > 1:
            image = cv2.resize(image, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
        keypoints, descriptors = sift.detectAndCompute(image, None)
        if keypoints:
            rows["image"].append(np.full(len(keypoints), index, dtype=np.int64))
            pts = np.array([kp.pt for kp in keypoints], dtype=np.float64)
            rows["x"].append((pts[:, 0] + 0.5) / upscale - 0.5)
            rows["y"].append((pts[:, 1] + 0.5) / upscale - 0.5)
            rows["size"].append(np.array([kp.size for kp in keypoints], dtype=np.float64) / upscale)
            rows["packed"].append(np.array([kp.octave for kp in keypoints], dtype=np.int64))
            rows["descriptors"].append(np.clip(np.rint(descriptors), 0, 255).astype(np.uint8))
        if bar is not None:
            bar.update(1)
    return rows


def _concat(
    parts: list[dict[str, list[NDArray[Any]]]], key: str, dtype: DTypeLike, width: int | None = None
) -> NDArray[Any]:
    arrays = [a for part in parts for a in part[key]]
    if arrays:
        return np.concatenate(arrays)
    return np.zeros((0, width) if width else (0,), dtype=dtype)


def detect_keypoints(
    images: ArrayLike,
    upscale: int = 1,
    sift_params: dict[str, Any] | None = None,
    n_jobs: int | None = None,
    progress: bool = False,
) -> Keypoints:
    """SIFT keypoints and descriptors of every image (threads over chunks; OpenCV releases the GIL).

    OpenCV's ``cv2.SIFT_create``; with ``upscale > 1`` the images are enlarged (bicubic) before detection
    and the keypoints mapped back to the original pixel grid (module docstring;
    docs/methods/racknet.md#racknet-keypoints).

    Args:
        images: see :func:`to_gray_uint8`.
        upscale: integer enlargement before detection (3-4 for 8x8 images).
        sift_params: keyword arguments of ``cv2.SIFT_create`` (None: OpenCV's defaults).
        n_jobs: threads (None: the CPU count, at most 8).
        progress: show a ``tqdm`` progress bar.

    Returns:
        The :class:`Keypoints` of all images, without entropies.

    Raises:
        ImportError: OpenCV is missing (``pip install keras-attention[vision]``) or too old.
        ValueError: invalid ``images`` (see :func:`to_gray_uint8`), ``upscale`` or ``n_jobs`` not a positive
            integer, ``progress`` not a bool.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> from keras_attention.racknet import detect_keypoints
        >>> images = load_digits().images[:5] / 16.0  # five 8x8 digits in [0, 1]
        >>> keypoints = detect_keypoints(images, upscale=4, n_jobs=1)
        >>> len(keypoints) > 0, keypoints.n_images, keypoints.descriptors.shape[1], keypoints.entropy
        (True, 5, 128, None)
    """
    require_cv2()
    check_positive_int("upscale", upscale)
    check_bool("progress", progress)
    gray = to_gray_uint8(images)
    n_jobs = _resolve_jobs(n_jobs)
    sift_params = dict(sift_params or {})
    bar = None
    if progress:
        from tqdm.auto import tqdm  # noqa: PLC0415

        bar = tqdm(total=len(gray), desc="SIFT", unit="img")
    try:
        chunks = _chunks(len(gray), n_jobs)
        if n_jobs == 1 or len(chunks) == 1:
            parts = [_detect_chunk(gray, a, b, upscale, sift_params, bar) for a, b in chunks]
        else:
            with ThreadPoolExecutor(max_workers=n_jobs) as pool:
                parts = list(pool.map(lambda ab: _detect_chunk(gray, ab[0], ab[1], upscale, sift_params, bar), chunks))
    finally:
        if bar is not None:
            bar.close()
    packed = _concat(parts, "packed", np.int64)
    octave, layer = unpack_octave(packed)
    return Keypoints(
        image=_concat(parts, "image", np.int64),
        x=_concat(parts, "x", np.float64),
        y=_concat(parts, "y", np.float64),
        size=_concat(parts, "size", np.float64),
        octave=np.asarray(octave, dtype=np.int64),
        layer=np.asarray(layer, dtype=np.int64),
        descriptors=_concat(parts, "descriptors", np.uint8, width=128),
        n_images=len(gray),
    )


def keypoint_entropies(gray: NDArray[np.uint8], keypoints: Keypoints) -> NDArray[np.float64]:
    """Scope entropy (bits) of every keypoint on the original 8-bit pixels; fills ``keypoints.entropy``.

    The complexity of each feature (dissertation §3.4.4.1; docs/methods/racknet.md#racknet-layers), as
    :func:`scope_entropies`, vectorised over the keypoints of all images.

    Args:
        gray: the ``(N, H, W)`` uint8 images the keypoints were detected on (:func:`to_gray_uint8`).
        keypoints: their :class:`Keypoints`; its ``entropy`` is set.

    Returns:
        float64 array ``(K,)`` of the entropies (the array now in ``keypoints.entropy``).

    Example:
        >>> from sklearn.datasets import load_digits
        >>> from keras_attention.racknet import detect_keypoints, keypoint_entropies, to_gray_uint8
        >>> gray = to_gray_uint8(load_digits().images[:5] / 16.0)
        >>> keypoints = detect_keypoints(gray, upscale=4, n_jobs=1)
        >>> entropy = keypoint_entropies(gray, keypoints)
        >>> entropy.shape == (len(keypoints),), keypoints.entropy is entropy
        (True, True)
        >>> bool(((entropy >= 0) & (entropy <= 8)).all())  # at most 8 bits for 8-bit pixels
        True
    """
    _, height, width = gray.shape
    x0, x1, y0, y1 = scope_bounds(keypoints.x, keypoints.y, keypoints.radius, height, width)
    keypoints.entropy = _window_entropies(gray, keypoints.image, x0, x1, y0, y1)
    return keypoints.entropy
