"""GAN steerability (Jahanian, Chai & Isola, ICLR 2020): masked target edits and the attributes they move."""
from .attributes import (ATTRIBUTES, REC601, Attribute, background_color, centroid, channel_means,
                         dominant_orientation, foreground, luminance, object_size, observed_change,
                         target_change, wrap_angle)
from .edits import ALPHA_RANGES, EDITS, IDENTITY_ALPHAS, alpha_range, brightness, color, rotate, shift, zoom
