"""One error type for bad dataset input, with a message that names file, field and index."""

from __future__ import annotations


class DatasetError(ValueError):
    """Raised when a dataset file or array is malformed.

    The message always reads ``<source>: field '<field>'[ at index <i>]: <problem>`` so a
    user can find the offending value without a debugger.
    """

    def __init__(self, source: str, field: str | None, index: int | None, problem: str) -> None:
        self.source = str(source)
        self.field = field
        self.index = index
        self.problem = problem
        where = f"field '{field}'" if field else "dataset"
        if index is not None:
            where += f" at index {index}"
        super().__init__(f"{self.source}: {where}: {problem}")


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The named file, directory or local Minari dataset id does not exist.

    Both a `DatasetError` (a `ValueError`) and a `FileNotFoundError`, so either ``except``
    catches it.
    """

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(source, None, None, problem)
