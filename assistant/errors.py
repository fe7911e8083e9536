"""Errors with messages a user can act on. The CLI and web app show `str(error)` and nothing else."""


class AssistantError(Exception):
    """Base class: the message says what went wrong and what to do."""


class ConfigError(AssistantError):
    """A setting is invalid."""


class NoDocumentsError(AssistantError):
    """seeds/ holds nothing that can be indexed."""


class DamagedIndexError(AssistantError):
    """The index on disk is damaged, tampered with or unreadable."""


class IndexBusyError(AssistantError):
    """Another process is building the index."""


class QuestionError(AssistantError):
    """The question cannot be answered as asked (empty, too long)."""


class ModelError(AssistantError):
    """A model could not be loaded."""


class IndexWriteError(AssistantError):
    """The index could not be written (disk full, read-only folder); the previous one is still used."""


class StoreUnavailableError(AssistantError):
    """The index store (a Milvus server) cannot be reached or refuses the credentials."""


class ClusterError(AssistantError):
    """A Ray cluster to embed on cannot be reached or used."""
