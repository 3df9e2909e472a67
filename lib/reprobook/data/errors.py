"""Errors raised by the data layer: each names what was looked for and how to get it."""


class DataNotFoundError(FileNotFoundError):
    """No accepted layout of a dataset was found in any data root."""


class CorruptDataError(ValueError):
    """A shard's checksum or size disagrees with its manifest, or a file does not decode."""
