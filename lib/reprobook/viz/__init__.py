"""Plot helpers (one module) and the book's one style."""
from .plots import (bar_compare, plot_align_uniform, plot_angle_densities, plot_circle_density, plot_color_views,
                    plot_gap_vs_m, plot_grouped_bars, plot_history, plot_image_grid, plot_mi_accuracy, plot_pair_distances,
                    show_images, von_mises_kde)
from .style import CLASS_COLORS, PALETTE, method_color, use_style
