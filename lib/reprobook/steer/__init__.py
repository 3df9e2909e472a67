"""GAN steerability (Jahanian, Chai & Isola, ICLR 2020): masked target edits, the attributes they move, and latent walks."""
from .attributes import (ATTRIBUTES, REC601, Attribute, background_color, centroid, channel_means,
                         dominant_orientation, foreground, luminance, object_size, observed_change,
                         target_change, wrap_angle)
from .edits import ALPHA_RANGES, EDITS, IDENTITY_ALPHAS, alpha_range, brightness, color, edit_units, rotate, shift, walk_alpha, zoom
from .walks import (LinearWalk, NonlinearWalk, edit_alpha, masked_mse, step_alpha, train_walk, uniform_alpha,
                    walk_loss)
