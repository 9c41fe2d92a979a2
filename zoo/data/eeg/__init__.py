"""EEG: a synthetic motor-imagery generator (:mod:`zoo.data.eeg.motor_imagery`) and trial datamodules with
within-session k-fold splits, synthetic (:mod:`zoo.data.eeg.datamodules`) and MOABB (:mod:`zoo.data.eeg.moabb`;
moabb and mne are imported only when its data are extracted)."""

from zoo.data.eeg.datamodules import EEGSyntheticDataModule, TrialsDataModule
from zoo.data.eeg.moabb import MOABBDataModule

__all__ = ["EEGSyntheticDataModule", "MOABBDataModule", "TrialsDataModule"]
