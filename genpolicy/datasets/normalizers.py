"""Re-export of `genpolicy.models.normalizers` (where the normalizer lives now).

The normalizer is part of a saved policy, and a stand-alone policy must load without the data
layer (h5py, gymnasium, Minari), so the class moved into ``genpolicy.models``; this module
keeps old imports working.
"""

from genpolicy.models.normalizers import MIN_SCALE, Normalizer, NormMode

__all__ = ["MIN_SCALE", "Normalizer", "NormMode"]
