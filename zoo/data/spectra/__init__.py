"""IR spectra of QM9 molecules for DiffSpectra: GFN2-xTB harmonic analysis (:mod:`~zoo.data.spectra.ir`), the QM9
molecules it is run on (:mod:`~zoo.data.spectra.qm9`) and the datamodule that reads the built set
(:mod:`~zoo.data.spectra.datamodule`)."""
