"""Discord's numbers, named: limits, permissions, message flags and the wire enums.

The groups are plain classes of ``int`` (not ``enum``s) so every value the fake puts in JSON or
compares with what the client sent is exactly the number Discord uses.
"""

from __future__ import annotations

from typing import Final

DISCORD_EPOCH_MS = 1420070400000
TOKEN_LIFETIME = 15 * 60.0
ATTACHMENT_URL_LIFETIME = 24 * 3600  # seconds a signed attachment URL stays valid
EXPIRED_CONTENT = "This content is no longer available."
ALL_PERMISSIONS = (1 << 51) - 1
EVERYONE_PERMISSIONS = ALL_PERMISSIONS & ~8  # everything but ADMINISTRATOR

FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_COMPONENTS_V2 = 1 << 15
CREATE_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_COMPONENTS_V2
EDIT_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_COMPONENTS_V2

DEFAULT_USER_ID: Final = 4000  # the member who clicks and types in tests
OWNER_ID: Final = 4001  # the application's owner
DEFAULT_MEMBER_PERMISSIONS: Final = "2147483647"  # what send_* give the member by default

MAX_ATTACHMENTS: Final = 10  # files per request, attachments per message
MAX_CONTENT_LENGTH: Final = 2000
MAX_EMBEDS_LENGTH: Final = 6000  # title + description + footer + author + fields, all embeds
MAX_ACTION_ROWS: Final = 5  # top-level components without IS_COMPONENTS_V2


class InteractionType:
    PING: Final = 1
    APPLICATION_COMMAND: Final = 2
    MESSAGE_COMPONENT: Final = 3
    AUTOCOMPLETE: Final = 4
    MODAL_SUBMIT: Final = 5


class CallbackType:
    """``type`` of an interaction response (POST /interactions/{id}/{token}/callback)."""

    PONG: Final = 1
    CHANNEL_MESSAGE: Final = 4
    DEFERRED_CHANNEL_MESSAGE: Final = 5
    DEFERRED_UPDATE_MESSAGE: Final = 6
    UPDATE_MESSAGE: Final = 7
    AUTOCOMPLETE_RESULT: Final = 8
    MODAL: Final = 9


class InteractionContext:
    GUILD: Final = 0
    BOT_DM: Final = 1


class IntegrationType:
    """Where the app is installed (``integration_types``; as strings, the keys of
    ``authorizing_integration_owners``)."""

    GUILD_INSTALL: Final = 0
    USER_INSTALL: Final = 1


class MessageType:
    DEFAULT: Final = 0
    REPLY: Final = 19
    CHAT_INPUT_COMMAND: Final = 20


class MessageReferenceType:
    DEFAULT: Final = 0  # a reply
    FORWARD: Final = 1


class ChannelType:
    GUILD_TEXT: Final = 0
    DM: Final = 1


class ComponentType:
    ACTION_ROW: Final = 1
    BUTTON: Final = 2
    TEXT_INPUT: Final = 4


class CommandType:
    CHAT_INPUT: Final = 1


class OptionType:
    ATTACHMENT: Final = 11


class Opcode:
    """Gateway opcodes."""

    DISPATCH: Final = 0
    HEARTBEAT: Final = 1
    IDENTIFY: Final = 2
    PRESENCE_UPDATE: Final = 3
    VOICE_STATE_UPDATE: Final = 4
    RESUME: Final = 6
    REQUEST_GUILD_MEMBERS: Final = 8
    INVALID_SESSION: Final = 9
    HELLO: Final = 10
    HEARTBEAT_ACK: Final = 11


class ErrorCode:
    """JSON error codes of the REST API (``{"code": ..., "message": ...}``)."""

    GENERAL: Final = 0
    UNKNOWN_CHANNEL: Final = 10003
    UNKNOWN_MESSAGE: Final = 10008
    UNKNOWN_USER: Final = 10013
    UNKNOWN_WEBHOOK: Final = 10015
    UNKNOWN_INTERACTION: Final = 10062
    ENTITY_TOO_LARGE: Final = 40005
    ALREADY_ACKNOWLEDGED: Final = 40060
    MISSING_ACCESS: Final = 50001
    CANNOT_EDIT_OTHERS_MESSAGE: Final = 50005
    EMPTY_MESSAGE: Final = 50006
    MISSING_PERMISSIONS: Final = 50013
    INVALID_WEBHOOK_TOKEN: Final = 50027
    INVALID_FORM_BODY: Final = 50035
    INVALID_JSON: Final = 50109
