"""Source-filter speech synthesis: the voice of the synthetic corpora.

A Rosenberg glottal pulse train follows an f0 contour (declination, pitch accents, jitter), gets
aspiration noise, and passes per syllable through a cascade of formant resonators; fricative
noise bursts precede some vowels; syllable envelopes shape the energy. Speakers differ in base f0,
vocal-tract length (formant scale) and breathiness; emotions differ in prosody: f0 level and
range, speaking rate, loudness, glottal open quotient (spectral tilt) and jitter. Only numpy and
scipy, and every random draw comes from the generator passed in, so output is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from scipy.signal import butter, fftconvolve, lfilter, sosfilt

SAMPLE_RATE = 16000

# Adult male formant frequencies (Hz) of five vowels; a speaker's formant scale multiplies them.
VOWELS = {
    "a": (730, 1090, 2440, 3400),
    "e": (530, 1840, 2480, 3500),
    "i": (270, 2290, 3010, 3700),
    "o": (570, 840, 2410, 3300),
    "u": (300, 870, 2240, 3300),
}
BANDWIDTHS = (70, 100, 140, 180)
# Fricative noise bands (Hz): roughly s, sh, f.
FRICATIVES = ((4000, 7500), (2000, 5000), (1000, 7500))


@dataclass(frozen=True)
class Channel:
    """A recording chain: microphone coloration, room, recording level, background noise."""

    tilt: float  # first-order pre-emphasis coefficient: positive = brighter microphone
    reverb_s: float  # room decay time (RT60) in seconds; 0 = close microphone, no room
    gain_db: float  # recording level relative to the nominal -26 dBFS speech level
    snr_db: tuple[float, float]  # range of the background noise's signal-to-noise ratio
    room_seed: int = 0  # the room's impulse response


@dataclass(frozen=True)
class Voice:
    f0_hz: float
    formant_scale: float
    breathiness: float


@dataclass(frozen=True)
class Prosody:
    f0_scale: float  # pitch level relative to the voice's base f0
    f0_range_st: float  # size of pitch accents, in semitones
    rate_syl_s: float  # syllables per second
    level_db: float  # loudness relative to neutral speech
    open_quotient: (
        float  # open share of the glottal cycle: high = breathy, dark; low = pressed, bright
    )
    jitter: float  # relative cycle-to-cycle f0 perturbation


EMOTIONS = {
    "neu": Prosody(1.00, 2.0, 4.4, 0.0, 0.62, 0.010),
    "hap": Prosody(1.20, 5.0, 5.0, 2.5, 0.52, 0.012),
    "ang": Prosody(1.12, 3.5, 5.4, 5.0, 0.42, 0.022),
    "sad": Prosody(0.88, 1.0, 3.4, -4.0, 0.74, 0.020),
    "fru": Prosody(1.05, 2.5, 4.8, 3.0, 0.48, 0.020),
    "sur": Prosody(1.30, 7.0, 4.6, 2.0, 0.55, 0.012),
    # The classes of the other corpora (calm, fear, disgust, boredom).
    "cal": Prosody(0.95, 1.5, 3.9, -2.0, 0.68, 0.008),
    "fea": Prosody(1.25, 4.0, 5.8, 1.0, 0.50, 0.030),
    "dis": Prosody(0.92, 2.5, 3.8, 1.5, 0.45, 0.025),
    "bor": Prosody(0.90, 0.8, 3.6, -2.5, 0.66, 0.012),
}


@dataclass(frozen=True)
class Reading:
    """How a read sentence is delivered beyond its prosody: each phrase declines on its own and
    is reset at the next; the sentence ends in a fall (statement) or a rise (question); rate and
    loudness drift across it."""

    final_st: float  # pitch movement over the last syllable, in semitones: < 0 fall, > 0 rise
    phrase_declination_st: float  # fall over each phrase
    rate_drift: float  # relative change of the speaking rate from start to end
    level_drift_db: float  # loudness change from start to end


def vary(prosody: Prosody, rng: np.random.Generator, amount: float = 1.0) -> Prosody:
    """Per-utterance variation around an emotion's prosody, so classes overlap as in real speech."""
    return Prosody(
        f0_scale=prosody.f0_scale * float(np.exp(rng.normal(0, 0.06 * amount))),
        f0_range_st=max(0.3, prosody.f0_range_st + rng.normal(0, 1.2 * amount)),
        rate_syl_s=prosody.rate_syl_s * float(np.exp(rng.normal(0, 0.10 * amount))),
        level_db=prosody.level_db + rng.normal(0, 2.0 * amount),
        open_quotient=float(
            np.clip(prosody.open_quotient + rng.normal(0, 0.07 * amount), 0.3, 0.9)
        ),
        jitter=prosody.jitter * float(np.exp(rng.normal(0, 0.3 * amount))),
    )


def blend(a: Prosody, b: Prosody, w: float) -> Prosody:
    """Interpolate two prosodies (ambiguous, disagreed-on utterances)."""
    mix = {k: (1 - w) * getattr(a, k) + w * getattr(b, k) for k in a.__dataclass_fields__}
    return replace(a, **mix)


def _lexicon(size: int = 300, seed: int = 20261207) -> tuple[list[list[tuple]], np.ndarray]:
    """A fixed vocabulary of read speech: words of 1-3 syllables (a vowel, and maybe a fricative
    before it) with Zipf frequencies, so a syllable is partly predictable from its neighbours,
    as in a language; the emotional corpora keep independent syllables."""
    rng = np.random.default_rng(seed)
    vowels = list(VOWELS)
    words = [
        [
            (vowels[rng.integers(len(vowels))], int(rng.integers(len(FRICATIVES) + 2)))
            for _ in range(rng.integers(1, 4))
        ]
        for _ in range(size)
    ]
    frequency = 1.0 / np.arange(1, size + 1)
    return words, frequency / frequency.sum()


LEXICON = _lexicon()


def read_text(rng: np.random.Generator, n_syllables: int):
    """(vowel, fricative band or None) per syllable of words drawn from the lexicon."""
    words, frequency = LEXICON
    out = []
    while len(out) < n_syllables:
        for vowel, fricative in words[rng.choice(len(words), p=frequency)]:
            out.append((vowel, FRICATIVES[fricative] if fricative < len(FRICATIVES) else None))
    return out


def synthesize(
    voice: Voice,
    prosody: Prosody,
    n_samples: int,
    rng: np.random.Generator,
    reading: Reading | None = None,
) -> np.ndarray:
    """One utterance of exactly `n_samples` samples, float64, peak below 1."""
    drift = reading.rate_drift if reading else 0.0
    text = read_text(rng, int(n_samples / SAMPLE_RATE * 12) + 4) if reading else None
    plan = _syllable_plan(n_samples, prosody.rate_syl_s, rng, drift, text)
    f0 = _f0_contour(n_samples, voice.f0_hz * prosody.f0_scale, prosody, plan, rng, reading)
    source = _glottal_source(f0, prosody.open_quotient, rng)
    aspiration = rng.standard_normal(n_samples) * (
        0.02 + 0.25 * voice.breathiness * prosody.open_quotient
    )
    out = np.zeros(n_samples)
    for start, length, vowel, fricative, accent, _ in plan:
        seg = slice(start, start + length)
        excitation = (source[seg] + aspiration[seg]) * _envelope(length, 0.02, 0.05)
        formants = [f * voice.formant_scale for f in VOWELS[vowel]]
        out[seg] += accent * _vocal_tract(excitation, formants)
        if fricative is not None:
            out[seg] += accent * _fricative(length, fricative, rng)
    if reading and reading.level_drift_db:
        out *= 10 ** (reading.level_drift_db * (np.linspace(-0.5, 0.5, n_samples)) / 20)
    return out


def _syllable_plan(
    n: int, rate: float, rng: np.random.Generator, rate_drift: float = 0.0, text=None
) -> list[tuple]:
    """(start, length, vowel, fricative band or None, accent gain, ends a phrase) per syllable;
    `rate_drift` changes the rate linearly from (1 - drift / 2) to (1 + drift / 2) times `rate`."""
    sr = SAMPLE_RATE
    pos = int(rng.uniform(0.02, 0.08) * sr)
    end = n - int(0.03 * sr)
    plan, since_pause = [], 0
    vowels = list(VOWELS)
    while pos < end:
        local_rate = rate * (1.0 + rate_drift * (pos / n - 0.5)) if rate_drift else rate
        length = min(int(rng.uniform(0.7, 1.3) * sr / local_rate), end - pos)
        if length < int(0.04 * sr):
            break
        if text is None:  # independent syllables
            vowel = vowels[rng.integers(len(vowels))]
            fricative = FRICATIVES[rng.integers(len(FRICATIVES))] if rng.random() < 0.35 else None
        else:
            vowel, fricative = text[len(plan)]
        accent = float(np.exp(rng.normal(0, 0.25)))
        plan.append([pos, length, vowel, fricative, accent, False])
        pos += length + int(rng.uniform(0.0, 0.04) * sr)
        since_pause += 1
        if since_pause >= rng.integers(4, 9):  # phrase boundary
            plan[-1][-1] = True
            pos += int(rng.uniform(0.12, 0.3) * sr * 4.4 / rate)
            since_pause = 0
    if not plan:  # very short clips still carry one syllable
        plan.append([0, n, vowels[rng.integers(len(vowels))], None, 1.0, False])
    plan[-1][-1] = True
    return [tuple(syllable) for syllable in plan]


def _f0_contour(
    n: int, base: float, prosody: Prosody, plan, rng: np.random.Generator, reading=None
) -> np.ndarray:
    t = np.arange(n) / SAMPLE_RATE
    if reading is None:
        semitones = -1.5 * t / max(t[-1], 1e-3)  # declination over the utterance
    else:
        semitones = _phrase_contour(n, plan, reading, rng)
    for start, length, *_ in plan:
        if rng.random() < 0.5:  # pitch accent on about half the syllables
            bump = (
                np.sin(np.linspace(0, np.pi, length)) * prosody.f0_range_st * rng.uniform(0.4, 1.0)
            )
            semitones[start : start + length] += bump
    # jitter: a random perturbation held for ~5 ms blocks
    block = SAMPLE_RATE // 200
    noise = np.repeat(rng.standard_normal(n // block + 1), block)[:n]
    return base * 2.0 ** (semitones / 12.0) * (1.0 + prosody.jitter * noise)


def _phrase_contour(n: int, plan, reading: Reading, rng: np.random.Generator) -> np.ndarray:
    """Semitones of a read sentence: each phrase declines from its start and ends in a boundary
    tone: the sentence's last one is `final_st`, the others a small continuation movement."""
    semitones = np.zeros(n)
    phrase_start = 0
    for start, length, *_, ends_phrase in plan:
        if not ends_phrase:
            continue
        end = start + length
        semitones[phrase_start:end] = np.linspace(
            0, -reading.phrase_declination_st, end - phrase_start
        )
        last = end == plan[-1][0] + plan[-1][1]
        tone = reading.final_st if last else rng.uniform(-1.0, 1.5)
        semitones[start:end] += np.linspace(0, tone, length)
        semitones[end:] = semitones[end - 1] if last else 0.0
        phrase_start = end
    return semitones


def _glottal_source(f0: np.ndarray, open_quotient: float, rng: np.random.Generator) -> np.ndarray:
    """Differentiated Rosenberg pulses; a short open phase closes abruptly: a brighter voice."""
    phase = np.cumsum(f0) / SAMPLE_RATE + rng.random()
    frac = phase % 1.0
    rise, fall = 0.6 * open_quotient, 0.4 * open_quotient
    flow = np.where(
        frac < rise,
        0.5 * (1.0 - np.cos(np.pi * frac / rise)),
        np.where(frac < open_quotient, np.cos(0.5 * np.pi * (frac - rise) / fall), 0.0),
    )
    return np.diff(flow, prepend=0.0) * (SAMPLE_RATE / f0.mean()) * 0.1


def _vocal_tract(x: np.ndarray, formants) -> np.ndarray:
    b, a = _resonator_cascade(tuple(int(f) for f in formants))
    return lfilter(b, a, x)


@lru_cache(maxsize=4096)
def _resonator_cascade(formants: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([1.0])
    gain = 1.0
    for freq, bw in zip(formants, BANDWIDTHS, strict=True):
        freq = min(freq, 0.45 * SAMPLE_RATE)
        r = np.exp(-np.pi * bw / SAMPLE_RATE)
        pole = np.array([1.0, -2.0 * r * np.cos(2 * np.pi * freq / SAMPLE_RATE), r * r])
        gain *= pole.sum()  # unit gain at DC
        a = np.convolve(a, pole)
    return np.array([gain]), a


def _fricative(length: int, band: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    n = min(length, int(rng.uniform(0.04, 0.09) * SAMPLE_RATE))
    burst = sosfilt(_band_filter(band), rng.standard_normal(n)) * _envelope(n, 0.01, 0.02) * 0.25
    out = np.zeros(length)
    out[:n] = burst
    return out


@lru_cache(maxsize=8)
def _band_filter(band: tuple[int, int]) -> np.ndarray:
    return butter(2, band, btype="bandpass", fs=SAMPLE_RATE, output="sos")


def _envelope(n: int, attack_s: float, release_s: float) -> np.ndarray:
    env = np.ones(n)
    a = min(int(attack_s * SAMPLE_RATE), n // 2)
    r = min(int(release_s * SAMPLE_RATE), n // 2)
    if a:
        env[:a] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, a))
    if r:
        env[n - r :] = 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, r))
    return env


def finish(
    speech: np.ndarray, level_db: float, channel: Channel, rng: np.random.Generator
) -> np.ndarray:
    """Recording chain: microphone coloration, room, level, background noise, headroom."""
    tilt = channel.tilt
    colored = lfilter([1.0, -tilt], [1.0], speech) if tilt else speech
    if channel.reverb_s > 0:
        colored = fftconvolve(colored, _room(channel.reverb_s, channel.room_seed))[: len(speech)]
    active = np.abs(colored) > 1e-4 * (np.abs(colored).max() + 1e-12)
    rms = np.sqrt(np.mean(colored[active] ** 2)) if active.any() else 1.0
    target = 10 ** ((-26.0 + level_db + channel.gain_db) / 20.0)
    out = colored * (target / max(rms, 1e-9))
    noise = lfilter([1.0], [1.0, -0.9], rng.standard_normal(len(out)))
    snr_db = rng.uniform(*channel.snr_db)
    noise *= target * 10 ** (-snr_db / 20.0) / (np.sqrt(np.mean(noise**2)) + 1e-12)
    out = out + noise
    peak = np.abs(out).max()
    return out * (0.95 / peak) if peak > 0.95 else out


@lru_cache(maxsize=16)
def _room(reverb_s: float, seed: int) -> np.ndarray:
    """A room impulse response: the direct sound, then exponentially decaying diffuse noise
    (60 dB down after `reverb_s`), starting 5 ms later."""
    rng = np.random.default_rng([seed, 7])
    n = int(reverb_s * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / reverb_s) * 0.3
    tail[: int(0.005 * SAMPLE_RATE)] = 0.0
    tail[0] = 1.0
    return tail
