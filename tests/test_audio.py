import numpy as np
import pytest
import soundfile as sf

from ptapt.data.audio import SAMPLE_RATE, load_audio
from ptapt.errors import PtaptError


def test_stereo_is_downmixed(tmp_path):
    left = np.full(1600, 0.5, dtype=np.float32)
    right = np.full(1600, -0.25, dtype=np.float32)
    sf.write(tmp_path / "st.wav", np.stack([left, right], axis=1), SAMPLE_RATE, subtype="FLOAT")
    wav = load_audio(tmp_path / "st.wav")
    assert wav.dtype == np.float32 and wav.ndim == 1 and len(wav) == 1600
    assert np.allclose(wav, 0.125)


def test_other_rates_are_resampled_to_16k(tmp_path):
    sr = 44100
    t = np.arange(sr) / sr  # 1 s of a 440 Hz tone
    sf.write(tmp_path / "cd.wav", 0.5 * np.sin(2 * np.pi * 440 * t), sr)
    wav = load_audio(tmp_path / "cd.wav")
    assert abs(len(wav) - SAMPLE_RATE) <= 1
    spectrum = np.abs(np.fft.rfft(wav))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / len(wav)
    assert abs(peak_hz - 440) < 2


def test_empty_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(PtaptError, match="empty.wav.*no samples"):
        load_audio(path)


def test_non_audio_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n")
    with pytest.raises(PtaptError, match="notes.wav: cannot read audio"):
        load_audio(path)
