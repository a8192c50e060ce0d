"""Deterministic pictures of geometric shapes: the course's own image data.

Every picture is drawn from its own seed ``(seed, task, split, index)``, so the same
arguments give the same pixels on any machine and a smaller split is a prefix of a larger
one. Only exact IEEE operations (+, -, *, /, sqrt, comparisons) touch pixels: no
``sin``/``cos`` per pixel, whose last bit can differ between maths libraries.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

IMAGE_SIZE = 64
_SUPERSAMPLE = 2  # 2x2 samples per pixel give smooth (anti-aliased) edges

ShapeFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _regular_polygon(n: int, radius: float = 1.0, start: float = 90.0) -> list[tuple[float, float]]:
    # Rounded to 6 decimals so that a last-bit difference in libm's cos/sin cannot move a vertex.
    angles = [math.radians(start + 360.0 * k / n) for k in range(n)]
    return [(round(radius * math.cos(a), 6), round(radius * math.sin(a), 6)) for a in angles]


def _star(points: int, inner: float) -> list[tuple[float, float]]:
    outer = _regular_polygon(points, 1.0)
    inner_pts = _regular_polygon(points, inner, start=90.0 + 180.0 / points)
    return [p for pair in zip(outer, inner_pts) for p in pair]


def _in_polygon(u: np.ndarray, v: np.ndarray, vertices: list[tuple[float, float]]) -> np.ndarray:
    """Even-odd rule: a point is inside if a ray to +u crosses the outline an odd number of times."""
    inside = np.zeros(u.shape, dtype=bool)
    for (u1, v1), (u2, v2) in zip(vertices, vertices[1:] + vertices[:1]):
        if v1 == v2:
            continue
        crosses = (v1 > v) != (v2 > v)
        u_at_v = u1 + (v - v1) * (u2 - u1) / (v2 - v1)
        inside ^= crosses & (u < u_at_v)
    return inside


def _polygon(vertices: list[tuple[float, float]]) -> ShapeFn:
    return lambda u, v: _in_polygon(u, v, vertices)


def _box(u: np.ndarray, v: np.ndarray, half_u: float, half_v: float) -> np.ndarray:
    return (np.abs(u) <= half_u) & (np.abs(v) <= half_v)


def _heart(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # The classic implicit heart curve (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, scaled to the unit disc.
    x, y = 1.2 * u, 1.2 * v + 0.15
    r = x * x + y * y - 1.0
    return r * r * r - x * x * y * y * y <= 0.0


# Shapes are defined in local coordinates where the shape fits roughly in the unit disc;
# rendering scales, rotates and moves them. ``v`` points up.
SHAPES: dict[str, ShapeFn] = {
    # source task: the course checkpoint is pretrained on these
    "circle": lambda u, v: u * u + v * v <= 1.0,
    "ring": lambda u, v: (u * u + v * v <= 1.0) & (u * u + v * v >= 0.3),
    "triangle": _polygon(_regular_polygon(3)),
    "square": lambda u, v: _box(u, v, 0.75, 0.75),
    "pentagon": _polygon(_regular_polygon(5)),
    "hexagon": _polygon(_regular_polygon(6)),
    "star": _polygon(_star(5, 0.42)),
    "cross": lambda u, v: _box(u, v, 0.3, 0.95) | _box(u, v, 0.95, 0.3),
    "crescent": lambda u, v: (u * u + v * v <= 1.0) & ((u - 0.45) ** 2 + v * v > 0.72),
    "heart": _heart,
    "semicircle": lambda u, v: (u * u + (v + 0.45) ** 2 <= 1.0) & (v >= -0.45),
    "bar": lambda u, v: _box(u, v, 0.95, 0.38),
    # target and rare tasks: shapes the checkpoint never saw
    "arrow": _polygon([(-0.95, -0.22), (0.15, -0.22), (0.15, -0.6), (0.95, 0.0),
                       (0.15, 0.6), (0.15, 0.22), (-0.95, 0.22)]),
    "frame": lambda u, v: _box(u, v, 0.8, 0.8) & ~_box(u, v, 0.45, 0.45),
    "trapezoid": _polygon([(-0.95, -0.5), (0.95, -0.5), (0.42, 0.5), (-0.42, 0.5)]),
    "l_shape": lambda u, v: _box(u + 0.4, v, 0.3, 0.9) | _box(u, v + 0.6, 0.7, 0.3),
    "star4": _polygon(_star(4, 0.35)),
}


def _random_rotation(rng: np.random.Generator) -> tuple[float, float]:
    """A uniformly random direction (cos, sin), made without trigonometry."""
    while True:
        a, b = (int(x) for x in rng.integers(-1000, 1001, size=2))
        norm2 = a * a + b * b
        if 10_000 <= norm2 <= 1_000_000:
            norm = math.sqrt(norm2)
            return a / norm, b / norm


def _luminance(rgb: np.ndarray) -> float:
    return float(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])


# Foreground colours of the ``colour`` task, each drawn within +-30 per channel of these.
COLOURS = {"red": (200, 40, 40), "green": (40, 170, 60), "blue": (50, 70, 210), "yellow": (220, 200, 40)}


def _random_colours(rng: np.random.Generator, min_contrast: float = 60.0, colour: str | None = None):
    """Foreground and two background colours whose brightness differs by at least ``min_contrast``.

    The foreground is any colour, or close to ``colour`` (one of :data:`COLOURS`).
    """
    while True:
        if colour is None:
            fg, bg1, bg2 = (rng.integers(0, 256, size=3).astype(np.float64) for _ in range(3))
        else:
            fg = np.clip(np.array(COLOURS[colour], dtype=np.float64) + rng.integers(-30, 31, size=3), 0, 255)
            bg1, bg2 = (rng.integers(0, 256, size=3).astype(np.float64) for _ in range(2))
        bg2 = 0.6 * bg1 + 0.4 * bg2  # a gentle gradient, not a second picture
        if min(abs(_luminance(fg) - _luminance(bg1)), abs(_luminance(fg) - _luminance(bg2))) >= min_contrast:
            return fg, bg1, bg2


def _stripes(rng: np.random.Generator, size: int) -> np.ndarray:
    """0/1 stripes, 3 to 6 pixels wide, horizontal, vertical or diagonal: integer arithmetic only."""
    a, b = ((1, 0), (0, 1), (1, 1), (1, -1))[int(rng.integers(4))]
    width = int(rng.integers(3, 7))
    iy, ix = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return ((a * ix + b * iy + 4 * size) // width % 2).astype(np.float64)


def render(shape: str, rng: np.random.Generator, size: int = IMAGE_SIZE, colour: str | None = None,
           shifted: bool = False) -> np.ndarray:
    """Draws one picture of ``shape`` with random size, position, rotation, colours and noise.

    ``colour`` (one of :data:`COLOURS`) fixes the shape's colour family; the background stays random.
    ``shifted`` draws the same shape from another distribution: smaller, on a striped background
    of two unrelated colours, with less contrast and more noise (the ``target_shifted`` task).

    Returns:
        ``uint8`` array of shape ``(3, size, size)``.
    """
    inside = SHAPES[shape]
    half = size / 2
    radius = half * ((0.35 + 0.25 * rng.random()) if shifted else (0.45 + 0.4 * rng.random()))
    cos, sin = _random_rotation(rng)
    margin = max(half - radius - 1.0, 0.0)
    cx, cy = margin * (2 * rng.random() - 1), margin * (2 * rng.random() - 1)
    fg, bg1, bg2 = _random_colours(rng, colour=colour, min_contrast=50.0 if shifted else 60.0)
    gradient = rng.integers(-100, 101, size=2) / 100.0

    n = size * _SUPERSAMPLE
    coords = (np.arange(n, dtype=np.float64) + 0.5) / _SUPERSAMPLE - half
    x, y = np.meshgrid(coords, -coords)  # y up, like the shape definitions
    dx, dy = x - cx, y - cy
    u = (dx * cos + dy * sin) / radius
    v = (dy * cos - dx * sin) / radius
    cover = inside(u, v).reshape(size, _SUPERSAMPLE, size, _SUPERSAMPLE).mean(axis=(1, 3))

    px = (np.arange(size, dtype=np.float64) + 0.5) / size
    t = np.clip(0.5 + (px[None, :] - 0.5) * gradient[0] + (px[:, None] - 0.5) * gradient[1], 0.0, 1.0)
    if shifted:  # stripes in the two background colours instead of a gentle gradient
        t = _stripes(rng, size)
    background = bg1[:, None, None] * (1.0 - t) + bg2[:, None, None] * t
    picture = background * (1.0 - cover) + fg[:, None, None] * cover
    noise = rng.integers(-20, 21, size=picture.shape) if shifted else rng.integers(-12, 13, size=picture.shape)
    return np.clip(np.rint(picture) + noise, 0, 255).astype(np.uint8)
