r"""Synthetic motor-imagery EEG: resonating latent sources, a fixed mixing, pink sensor noise and a band-pass.

:func:`motor_imagery` draws ``n_classes · n_trials`` epochs ``x`` of shape ``(N, n_channels, T)`` (float32,
``T = round(duration · sfreq)``) and their labels ``y`` ``(N,)`` (int64, ``0 .. n_classes−1``), deterministically
given ``seed``. Per trial:

1. **Sources.** ``n_sources`` latent rhythms, each an AR(2) resonator driven by white noise ``ε_t ~ N(0, 1)``::

       s_t = 2 r cos ω · s_{t−1} − r² · s_{t−2} + ε_t,   ω = 2π f / sfreq,   r = exp(−π b / sfreq)

   whose spectrum peaks near ``f`` (Hz) with a −3 dB bandwidth of about ``b`` (Hz). The first ``n_classes`` are the
   *task* sources (the lateral μ rhythms, :data:`TASK_FREQUENCY`, bandwidth :data:`TASK_BANDWIDTH`), the rest
   *background* sources with class-independent peaks drawn in 8–30 Hz and bandwidths in 2–6 Hz. Each trial jitters
   every peak by up to ±0.5 Hz and every amplitude by a lognormal factor (trial-to-trial variability).
2. **Equal expected power.** The band-pass ``H`` (below) is applied forward and backward, so its power response is
   ``|H(ω)|⁴``. A source of AR coefficients ``a₁ = 2r cos ω₀``, ``a₂ = −r²`` has the band-passed variance

       v(a₁, a₂) = (1/π) ∫₀^π |H(ω)|⁴ / |1 − a₁ e^{−iω} − a₂ e^{−2iω}|² dω

   (integrated on a fine grid, :func:`bandpassed_variance`); every source is divided by ``√v`` of its own (jittered)
   coefficients, so its expected band-passed variance is its nominal power ``p`` whatever its frequency.
3. **Class effects** on task source ``k`` in the trials of class ``k`` (:data:`REGIMES`): ``spatial`` scales its
   power by ``1 − drop`` (event-related desynchronisation, same frequencies for all classes); ``temporal`` moves
   its peak from ``TASK_FREQUENCY`` by ``shift`` Hz at the same bandwidth and the same expected power, so every
   class has the same expected spatial covariance ``A diag(p) Aᵀ + σ²I`` and differs only in the lagged
   covariances (its dynamics); ``mixed`` does both, each weaker. As set: ``spatial`` drops 60 % of the power,
   ``temporal`` moves 10 Hz to 11 Hz, ``mixed`` drops 30 % and moves to 10.75 Hz.
4. **Mixing and noise.** ``x = A s + n``: ``A`` ``(n_channels, n_sources)`` Gaussian with unit-norm columns, drawn
   once from ``seed`` (all trials share it); ``n`` independent pink noise per channel, white Gaussian noise shaped
   to a ``1/f`` power spectrum in the Fourier domain, scaled so that its expected band-passed variance per channel
   is ``(n_sources / n_channels) / snr``: the mean band-passed signal variance per channel of unit nominal source
   powers through unit-norm columns, over ``snr``.
5. **Band-pass** 8–35 Hz, a 4th-order Butterworth applied forward and backward (``scipy.signal.sosfiltfilt``). The
   series are generated :data:`PADDING` seconds longer on each side and cropped, so neither the resonators' start
   nor the filter's edges enter the epoch.
"""

from __future__ import annotations

import numpy as np
from scipy import signal
from scipy.integrate import trapezoid

#: band-pass edges (Hz) and Butterworth order
BAND, FILTER_ORDER = (8.0, 35.0), 4
#: task sources' resting peak (Hz) and bandwidth (Hz); background peaks and bandwidths are drawn in these ranges
TASK_FREQUENCY, TASK_BANDWIDTH = 10.0, 1.5
BACKGROUND_FREQUENCIES, BACKGROUND_BANDWIDTHS = (8.0, 30.0), (2.0, 6.0)
#: trial-to-trial variability: uniform peak jitter (± Hz) and the std of the log amplitude
FREQUENCY_JITTER, AMPLITUDE_JITTER = 0.5, 0.2
#: extra seconds generated on each side of the epoch and cropped (resonator start, filter edges)
PADDING = 1.0
#: regime -> (drop: fraction of task-source power lost in its class, shift: its peak's move in Hz)
REGIMES = {"spatial": (0.6, 0.0), "temporal": (0.0, 1.0), "mixed": (0.3, 0.75)}


def bandpass(sfreq: float) -> np.ndarray:
    """The 8–35 Hz Butterworth band-pass as second-order sections (``scipy.signal.butter(..., output="sos")``)."""
    return signal.butter(FILTER_ORDER, BAND, btype="bandpass", fs=sfreq, output="sos")


def resonator(frequency: np.ndarray, bandwidth: np.ndarray, sfreq: float) -> tuple[np.ndarray, np.ndarray]:
    """AR(2) coefficients ``(a₁, a₂) = (2r cos ω, −r²)`` of resonators peaking at ``frequency`` Hz with
    ``bandwidth`` Hz (module doc); arrays of any (common) shape."""
    r = np.exp(-np.pi * np.asarray(bandwidth) / sfreq)
    return 2 * r * np.cos(2 * np.pi * np.asarray(frequency) / sfreq), -r**2


def bandpassed_variance(a1: np.ndarray, a2: np.ndarray, sos: np.ndarray, grid: int = 2048) -> np.ndarray:
    """Expected variance, after ``sosfiltfilt(sos)``, of AR(2) processes ``s_t = a₁ s_{t−1} + a₂ s_{t−2} + ε_t``
    with unit innovations: the spectrum ``1 / |1 − a₁e^{−iω} − a₂e^{−2iω}|²``, in real form
    ``1 / (1 + a₁² + a₂² + 2a₁(a₂ − 1) cos ω − 2a₂ cos 2ω)``, times ``|H|⁴``, integrated over ``[0, π]`` on
    ``grid`` intervals (module doc). ``a1``, ``a2``: any common shape; returns that shape."""
    omega, response = signal.sosfreqz(sos, worN=np.linspace(0, np.pi, grid + 1))
    a1, a2 = np.asarray(a1)[..., None], np.asarray(a2)[..., None]
    denominator = 1 + a1**2 + a2**2 + 2 * a1 * (a2 - 1) * np.cos(omega) - 2 * a2 * np.cos(2 * omega)
    return trapezoid(np.abs(response) ** 4 / denominator, omega, axis=-1) / np.pi


def pink_noise(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of ``shape`` (float64) with a ``1/f`` power spectrum along the last axis: complex white noise
    scaled by ``1/√k`` in FFT bin ``k ≥ 1`` (DC removed), back to time by ``irfft``."""
    length = shape[-1]
    spectrum = rng.standard_normal((*shape[:-1], length // 2 + 1)) + 1j * rng.standard_normal(
        (*shape[:-1], length // 2 + 1))
    bins = np.arange(length // 2 + 1)
    spectrum *= np.where(bins > 0, 1 / np.sqrt(np.maximum(bins, 1)), 0.0)
    return np.fft.irfft(spectrum, n=length, axis=-1)


def pink_bandpassed_variance(length: int, sos: np.ndarray) -> float:
    """Expected variance of :func:`pink_noise` of ``length`` samples after ``sosfiltfilt(sos)``: each FFT bin
    ``k`` contributes ``4 |H(ω_k)|⁴ / k`` over ``length²`` (its conjugate pair, irfft's scaling);
    Nyquist and DC are negligible for a band-pass."""
    bins = np.arange(1, length // 2 + 1)
    _, response = signal.sosfreqz(sos, worN=2 * np.pi * bins / length)
    return float(np.sum(4 * np.abs(response) ** 4 / bins) / length**2)


def source_parameters(regime: str, labels: np.ndarray, n_sources: int, sfreq: float,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per trial and source ``(N, n_sources)``: peak frequency (Hz), bandwidth (Hz) and nominal power, the class
    effects of ``regime`` applied to task source ``k`` in class ``k`` and the trial jitter drawn (module doc)."""
    drop, shift = REGIMES[regime]
    n_classes, n_trials = int(labels.max()) + 1, len(labels)
    n_background = n_sources - n_classes
    frequency = np.concatenate([np.full(n_classes, TASK_FREQUENCY),
                                rng.uniform(*BACKGROUND_FREQUENCIES, n_background)])
    bandwidth = np.concatenate([np.full(n_classes, TASK_BANDWIDTH),
                                rng.uniform(*BACKGROUND_BANDWIDTHS, n_background)])
    frequency, bandwidth = np.tile(frequency, (n_trials, 1)), np.tile(bandwidth, (n_trials, 1))
    power = np.ones((n_trials, n_sources))
    task = (np.arange(n_trials), labels)
    frequency[task] += shift
    power[task] *= 1 - drop
    frequency += rng.uniform(-FREQUENCY_JITTER, FREQUENCY_JITTER, frequency.shape)
    power *= np.exp(2 * AMPLITUDE_JITTER * rng.standard_normal(power.shape))
    return frequency, bandwidth, power


def sources(frequency: np.ndarray, bandwidth: np.ndarray, power: np.ndarray, length: int, sfreq: float,
            sos: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The AR(2) source series ``(N, n_sources, length)``, each scaled to the expected band-passed variance
    ``power`` (module doc, step 2); parameters ``(N, n_sources)``."""
    a1, a2 = resonator(frequency, bandwidth, sfreq)
    scale = np.sqrt(power / bandpassed_variance(a1, a2, sos))
    innovations = rng.standard_normal((*frequency.shape, length))
    out = np.empty_like(innovations)
    for index in np.ndindex(frequency.shape):
        out[index] = signal.lfilter([scale[index]], [1.0, -a1[index], -a2[index]], innovations[index])
    return out


def check_arguments(regime: str, n_trials: int, n_classes: int, n_channels: int, sfreq: float, duration: float,
                    n_sources: int, snr: float, prefix: str = "") -> None:
    """A ``ValueError`` naming the argument (after ``prefix``, e.g. ``data.``) for values :func:`motor_imagery`
    cannot generate."""
    problems = {
        "regime": (regime not in REGIMES, f"expected one of {sorted(REGIMES)}"),
        "n_trials": (n_trials < 1, "expected at least 1 trial per class"),
        "n_classes": (n_classes < 2, "expected at least 2 classes"),
        "n_channels": (not 2 <= n_channels <= 64, "expected 2..64 channels"),
        "n_sources": (n_sources < n_classes, f"expected at least one task source per class ({n_classes})"),
        "sfreq": (sfreq <= 2 * BAND[1] + 10, f"the {BAND[0]:g}-{BAND[1]:g} Hz band needs a sampling rate above "
                                             f"{2 * BAND[1] + 10:g} Hz"),
        "duration": (duration * sfreq < 16, "expected epochs of at least 16 samples"),
        "snr": (snr <= 0, "expected a positive signal-to-noise ratio"),
    }
    values = locals()
    for key, (bad, expected) in problems.items():
        if bad:
            raise ValueError(f"{prefix}{key}={values[key]!r}: {expected}")


def motor_imagery(regime: str, n_trials: int = 200, n_classes: int = 2, n_channels: int = 16, sfreq: float = 250.0,
                  duration: float = 2.0, n_sources: int = 6, snr: float = 2.0,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic motor-imagery epochs of ``regime`` (``spatial``, ``temporal`` or ``mixed``; module doc):
    ``n_trials`` per class, class by class. Returns ``x`` ``(n_classes · n_trials, n_channels, T)`` float32 with
    ``T = round(duration · sfreq)`` and ``y`` ``(n_classes · n_trials,)`` int64."""
    check_arguments(regime, n_trials, n_classes, n_channels, sfreq, duration, n_sources, snr)
    mixing_rng, trial_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    mixing = mixing_rng.standard_normal((n_channels, n_sources))
    mixing /= np.linalg.norm(mixing, axis=0)
    labels = np.repeat(np.arange(n_classes), n_trials)
    sos, length, pad = bandpass(sfreq), round(duration * sfreq), round(PADDING * sfreq)
    frequency, bandwidth, power = source_parameters(regime, labels, n_sources, sfreq, trial_rng)
    latent = sources(frequency, bandwidth, power, length + 2 * pad, sfreq, sos, trial_rng)
    signal_power = n_sources / n_channels  # per channel: unit nominal source powers through unit-norm columns
    noise = pink_noise((len(labels), n_channels, length + 2 * pad), trial_rng)
    noise *= np.sqrt(signal_power / snr / pink_bandpassed_variance(length + 2 * pad, sos))
    x = signal.sosfiltfilt(sos, np.einsum("cs,nsl->ncl", mixing, latent) + noise, axis=-1)
    return x[..., pad:pad + length].astype(np.float32), labels.astype(np.int64)
