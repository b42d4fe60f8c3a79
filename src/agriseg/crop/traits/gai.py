"""Green area index (GAI) from the green fraction of a photo, by inverting the Poisson gap-fraction model.

Seen at view zenith angle ``theta``, a canopy of randomly placed leaves with green area index GAI leaves a
gap fraction ``P0 = exp(-G(theta) * GAI / cos(theta))`` (Nilson 1971; Weiss et al. 2004), so the green
fraction (vegetation cover) is ``GF = 1 - P0`` and

    GAI = -cos(theta) * ln(1 - GF) / G(theta).

``G(theta)`` is the mean projection of unit leaf area on the plane normal to the view direction: 0.5 at
every angle for a spherical (uniformly oriented) leaf angle distribution, the default; a photo taken straight
down is ``theta = 0``. The model assumes randomly dispersed leaves (no clumping), so clumped canopies such as
young row crops read low: it is an "effective" GAI. At full cover (GF = 1) the gap fraction is 0 and GAI is
unbounded: it is reported as saturated (``None``), never as infinity or NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GreenAreaIndex:
    """GAI of one image or plot.

    Attributes:
        value: the green area index, or ``None`` when saturated.
        saturated: True at full cover (no gaps), where the Poisson model gives no finite GAI.
    """

    value: float | None
    saturated: bool


def green_area_index(green_fraction: float, zenith: float = 0.0, leaf_projection: float = 0.5) -> GreenAreaIndex:
    """GAI from a green fraction (Poisson model, see the module docstring).

    Args:
        green_fraction: vegetation cover in [0, 1] (1 - gap fraction).
        zenith: view zenith angle in degrees (0 = nadir).
        leaf_projection: ``G(theta)``; 0.5 for spherical leaves.

    Raises:
        ValueError: for a fraction outside [0, 1], an angle outside [0, 90) or G outside (0, 1].
        TypeError: a fraction that is not one number (an array: one call per fraction).
    """
    real = (int, float, np.integer, np.floating)
    if isinstance(green_fraction, np.ndarray) and green_fraction.ndim == 0:
        green_fraction = green_fraction[()]  # a 0-d array: its one value
    if isinstance(green_fraction, bool) or not isinstance(green_fraction, real):
        what = f"an array of shape {green_fraction.shape}" if isinstance(green_fraction, np.ndarray) else None
        raise TypeError(f"green_fraction is one number, not {what or type(green_fraction).__name__}")
    green_fraction = float(green_fraction)
    if not 0.0 <= green_fraction <= 1.0 or math.isnan(green_fraction):
        raise ValueError(f"green fraction must be in [0, 1], got {green_fraction}")
    from agriseg.config import check_numbers

    check_numbers(zenith=zenith, leaf_projection=leaf_projection)
    if not 0.0 <= zenith < 90.0:
        raise ValueError(f"view zenith angle must be in [0, 90) degrees, got {zenith}")
    if not 0.0 < leaf_projection <= 1.0:
        raise ValueError(f"leaf projection G must be in (0, 1], got {leaf_projection}")
    gap = 1.0 - green_fraction
    if gap <= 0.0:
        return GreenAreaIndex(None, True)
    return GreenAreaIndex(-math.cos(math.radians(zenith)) * math.log(gap) / leaf_projection + 0.0, False)
