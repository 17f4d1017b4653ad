"""One error tree for the whole project.

Every class's docstring is the message a user sees. An instance may carry a more specific message (the docstring
with details filled in); ``str(error)`` is always what the user sees. Each edge (CLI, HTTP, SFTP) has one place that
turns these into its own language.
"""


class SendemodulError(Exception):
    """Something went wrong."""

    #: Stable machine-readable code (used by the API's ``error`` field).
    code = "error"

    def __init__(self, message=None):
        if message is None:
            message = (self.__doc__ or self.__class__.__name__).strip().splitlines()[0]
        super().__init__(message)

    @property
    def message(self):
        return str(self)


class UsageError(SendemodulError):
    """The request is not valid."""

    code = "invalid"


class ConfigError(UsageError):
    """The configuration is not valid."""

    code = "config"


class IdentityError(UsageError):
    """The identifier is not valid."""

    code = "identity"


class KommunenrError(IdentityError):
    """The kommunenummer is not valid."""

    code = "kommunenr"


class BydelError(IdentityError):
    """The bydel is not valid for this kommune."""

    code = "bydel"


class OrgnrError(IdentityError):
    """The organisasjonsnummer is not valid."""

    code = "orgnr"


class UnitError(IdentityError):
    """The unit must be written KOMMUNENR-BYDEL-ORGNR, e.g. 0301-12-958935420."""

    code = "unit"


class NotFound(SendemodulError):
    """Not found."""

    code = "not_found"


class UnitNotFound(NotFound):
    """No such unit is registered."""

    code = "unknown_unit"


class AlreadyExists(SendemodulError):
    """It already exists."""

    code = "exists"


class StoreError(SendemodulError):
    """The database could not be used."""

    code = "store"


class AuditError(SendemodulError):
    """The audit log has been tampered with."""

    code = "audit"


class LoginBusy(SendemodulError):
    """The server is busy checking other logins; try again in a moment."""

    code = "busy"
