"""One error tree for the whole project.

Every class's docstring is the message a user sees. An instance may carry a more specific message (the docstring
with details filled in); ``str(error)`` is always what the user sees. Each edge (CLI, HTTP, SFTP) has one place that
turns these into its own language.
"""

from __future__ import annotations

from typing import Self


class SendemodulError(Exception):
    """Something went wrong."""

    #: Stable machine-readable code (used by the API's ``error`` field).
    code = "error"

    def __init__(self, message: str | None = None) -> None:
        if message is None:
            message = (self.__doc__ or self.__class__.__name__).strip().splitlines()[0]
        super().__init__(message)

    @property
    def message(self) -> str:
        return str(self)


class UsageError(SendemodulError):
    """The request is not valid."""

    code = "invalid"


class ConfigError(UsageError):
    """The configuration is not valid."""

    code = "config"


class PrivilegeError(SendemodulError):
    """The process cannot run as the user the configuration names for it."""

    code = "privileges"


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


class AlreadyRecorded(AlreadyExists):
    """This container (or reference) is already recorded."""

    code = "recorded"


class AuditError(SendemodulError):
    """The audit log has been tampered with."""

    code = "audit"


class BackupError(SendemodulError):
    """The backup or restore could not be made, or it did not check out."""

    code = "backup"


class LoginBusy(SendemodulError):
    """The server is busy checking other logins; try again in a moment."""

    code = "busy"


class KeyDirError(ConfigError):
    """The key directory is not valid."""

    code = "keys"


class NoCurrentKey(KeyDirError):
    """The key directory has no key valid today for this role."""

    code = "no_current_key"


class ContainerInputError(UsageError):
    """A row cannot go into a container: an identifier contains a TAB or line break, or a record a line break."""

    code = "container_input"


class ContainerError(UsageError):
    """The container is not valid."""

    code = "container"

    @classmethod
    def detail(cls, detail: str) -> Self:
        """This error with its message followed by ``detail`` (which member, which key, ...)."""
        return cls(f"{(cls.__doc__ or cls.__name__).strip().splitlines()[0].rstrip('.')} ({detail}).")


class ContainerTruncated(ContainerError):
    """The file ends too early: the upload or copy is incomplete."""

    code = "container_truncated"


class ContainerTarError(ContainerError):
    """The file is not a tar of the required shape: plain files only, mode 0644, owner 0, time 0, no extensions."""

    code = "container_tar"


class ContainerMembersError(ContainerError):
    """The file does not hold exactly the required members in the required order."""

    code = "container_members"


class ContainerTrailingData(ContainerError):
    """The file has data after the end of its tar archive."""

    code = "container_trailing"


class ManifestNotCanonical(ContainerError):
    """The manifest is not canonical JSON (UTF-8, sorted keys, no spaces, no duplicate keys)."""

    code = "manifest_syntax"


class ManifestInvalid(ContainerError):
    """The manifest does not have the required fields and values."""

    code = "manifest_schema"


class FormatUnsupported(ContainerError):
    """The container format is not supported: this version reads sendemodul-container/1."""

    code = "format"


class UnitMismatch(ContainerError):
    """The container was made for another unit than the one logged in."""

    code = "wrong_unit"


class ManifestUnsigned(ContainerError):
    """The manifest is not signed: manifest.sig must hold a 64-byte Ed25519 signature."""

    code = "unsigned"


class NoSigningKey(ContainerError):
    """No signing key is registered for this unit: ask the TPF to register the unit's unit.key.pub."""

    code = "no_signing_key"


class SignatureInvalid(ContainerError):
    """The manifest's signature does not match any signing key registered for this unit."""

    code = "bad_signature"


class PartSizeMismatch(ContainerError):
    """A part does not have the size its manifest states: the file was altered or damaged."""

    code = "part_size"


class PartDigestMismatch(ContainerError):
    """A part does not match the SHA-256 digest its manifest states: the file was altered or damaged."""

    code = "part_digest"


class RecipientCountMismatch(ContainerError):
    """A part is encrypted to a different number of keys than its manifest names."""

    code = "recipient_count"


class RecipientTypeMismatch(ContainerError):
    """A part is sealed with another key type than its key's (post-quantum or classic): encrypt it again."""

    code = "recipient_type"


class RecipientUnknown(ContainerError):
    """A part is encrypted to a key that is not in the key directory: fetch the current keys and encrypt again."""

    code = "recipient_unknown"


class RecipientWrongRole(ContainerError):
    """A part is encrypted to the wrong party's key (identities only to the TPF, data only to SSB)."""

    code = "recipient_role"


class RecipientNotCurrent(ContainerError):
    """A part is encrypted to a key that is not valid today: fetch the current keys and encrypt again."""

    code = "recipient_not_current"


class ContainerReplayed(ContainerError):
    """This container has been delivered before (same container_id): make a new container to deliver again."""

    code = "replay"


class PartDecryptionFailed(ContainerError):
    """A part could not be decrypted: it is damaged, truncated, or encrypted to another key."""

    code = "decrypt"


class PartContentError(ContainerError):
    """A part is malformed or does not belong to its container."""

    code = "part_content"


class PackageError(ContainerError):
    """The SSB package is not valid."""

    code = "package"


class SealInvalid(PackageError):
    """The TPF seal is malformed or does not match the package."""

    code = "seal"


class SealSignatureInvalid(PackageError):
    """The TPF seal's signature does not match any TPF signing key."""

    code = "seal_signature"


class ProfileError(UsageError):
    """There is no profile for that register and periode."""

    code = "profile"


class InputError(UsageError):
    """The file cannot be read."""

    code = "input"


class ExtractError(UsageError):
    """The extract cannot be read; `sendemodul check` gives the full report."""

    code = "extract"

    def __init__(self, message: str | None = None, *, line: int | None = None, rule: str | None = None) -> None:
        super().__init__(message)
        #: 1-based line of the problem, and the control rule (e.g. ``RECORD_LENGTH``) it breaks.
        self.line = line
        self.rule = rule


# -- intake (both fronts) -------------------------------------------------------------------------------------


class IntakeError(UsageError):
    """The upload was refused."""

    code = "refused"


class UploadTooLarge(IntakeError):
    """The upload is larger than the server accepts."""

    code = "too_large"


class UploadIncomplete(IntakeError):
    """The upload ended before the whole file had arrived; nothing was kept. Send the file again."""

    code = "incomplete"


class WindowClosed(IntakeError):
    """Reception is closed for this register and periode."""

    code = "window_closed"


class RegisterNotPermitted(IntakeError):
    """The person logged in may not report this register; nothing was kept."""

    code = "register_not_permitted"


class LoginRevoked(IntakeError):
    """Your login is no longer valid (the PIN was changed or revoked, or the unit disabled); nothing was kept."""

    code = "login_revoked"


class TooManyUploads(IntakeError):
    """This unit already has as many uploads in progress as the server allows at once; wait for one to finish."""

    code = "too_many_uploads"


class SpoolFull(IntakeError):
    """The server cannot store the upload right now (no space); nothing was kept. Try again later."""

    code = "no_space"


class AnswerError(UsageError):
    """SSB's answer is not valid; nothing was recorded."""

    code = "answer"

    @classmethod
    def detail(cls, detail: str) -> Self:
        """This error with its message followed by ``detail``."""
        return cls(f"{(cls.__doc__ or cls.__name__).strip().splitlines()[0].rstrip('.')} ({detail}).")


class AnswerInvalid(AnswerError):
    """SSB's answer is malformed; nothing was recorded."""

    code = "answer_invalid"


class AnswerSignatureInvalid(AnswerError):
    """SSB's answer is not signed by a current SSB signing key; nothing was recorded."""

    code = "answer_signature"


class AnswerUnknown(AnswerError):
    """SSB's answer names no package the TPF delivered; nothing was recorded."""

    code = "answer_unknown"


class AnswerMismatch(AnswerError):
    """SSB's answer does not match the package the TPF delivered under its reference; nothing was recorded."""

    code = "answer_mismatch"


class AnswerReplayed(AnswerError):
    """SSB's answer was received before, or the delivery is already answered; nothing was recorded."""

    code = "answer_replayed"


class ReviewError(UsageError):
    """The review task cannot be decided."""

    code = "review"


class ReviewMessageInvalid(ReviewError):
    """A delivery is returned with a message of 1 to 4,000 characters to the unit."""

    code = "review_message"


class ReviewOwnDelivery(ReviewError):
    """A reviewer cannot approve or return a delivery they sent themselves."""

    code = "review_own"


class ReviewDecided(ReviewError):
    """The review task is already decided."""

    code = "review_decided"


class ApplicationDecided(ReviewError):
    """The application for reviewer access is already decided."""

    code = "application_decided"
