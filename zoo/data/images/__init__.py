"""Generated images for diffusion priors and inverse problems: random-ellipse phantoms
(:mod:`~zoo.data.images.phantoms`), crops of scikit-image's bundled photographs (:mod:`~zoo.data.images.natural`),
synthetic hyperspectral images (:mod:`~zoo.data.images.hyperspectral`) and their datamodules
(:mod:`~zoo.data.images.datamodules`)."""
