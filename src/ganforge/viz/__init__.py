"""Pictures of a run: sample grids, scatter plots, the training GIF, loss curves, ADA's p."""

from ganforge.viz.gif import save_gif
from ganforge.viz.grid import make_grid, save_image_grid, save_scatter, to_uint8_hwc
from ganforge.viz.plots import plot_augment, plot_losses
from ganforge.viz.report import write_report

__all__ = ["make_grid", "save_image_grid", "save_scatter", "to_uint8_hwc", "save_gif", "plot_augment", "plot_losses", "write_report"]
