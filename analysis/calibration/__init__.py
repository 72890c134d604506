"""How often each decision is wrong: a simulator of runs with planted truth and noise
(`simulate`), and the false-positive rates and interval coverage measured on it (`rates`)."""

from analysis._lazy import lazy_getattr

__all__ = ["Noise", "Profile", "Rate", "Wave", "write_run"]

__getattr__ = lazy_getattr(
    __name__,
    {
        "Noise": "analysis.calibration.simulate",
        "Profile": "analysis.calibration.simulate",
        "Wave": "analysis.calibration.simulate",
        "write_run": "analysis.calibration.simulate",
        "Rate": "analysis.calibration.rates",
    },
)
