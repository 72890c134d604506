"""The trainer (`python -m train`): modules are imported by path (`train.loop`, `train.config`,
...); docs/architecture.md says what each one does."""

__all__: list[str] = []
