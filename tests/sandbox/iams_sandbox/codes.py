"""Return codes of the iAM Smart platform as the sandbox uses them.

The families follow the public protocol notes (IAMSMART_PROTOCOL.md,
section 3).  Where the notes give a family but not a number, the sandbox
picks one and README.md lists it; gateways should treat every code other
than D00000 as a failure and only special-case the documented ones.
"""

OK = "D00000"

BAD_PARAMETER = "D20001"
MISSING_PARAMETER = "D20002"
UNKNOWN_CLIENT = "D20003"
DUPLICATE_REQUEST = "D20004"
BAD_SIGNATURE_METHOD = "D20005"
BAD_SIGNATURE = "D20006"
UNREGISTERED_REDIRECT = "D20008"
TOKEN_INVALID = "D20009"
DUPLICATE_BUSINESS_ID = "D20011"
INSUFFICIENT_SCOPE = "D20012"

KEK_INVALID = "D30001"
CEK_INVALID = "D30002"
ENCRYPTION_ERROR = "D30003"
DECRYPTION_ERROR = "D30004"

LOGIN_CANCELLED = "D40000"
LOGIN_REJECTED = "D40001"
LOGIN_TIMEOUT = "D40003"
AUTH_CODE_INVALID = "D40004"

PROFILE_UNKNOWN_FIELD = "D50001"
PROFILE_DECLINED = "D50002"
PROFILE_TIMEOUT = "D50003"

EME_UNKNOWN_FIELD = "D60001"
EME_DECLINED = "D60002"
EME_TIMEOUT = "D60003"

STEPUP_CANCELLED = "D80002"
STEPUP_TIMEOUT = "D80003"

MESSAGES = {
    OK: "Success",
    BAD_PARAMETER: "Invalid parameter",
    MISSING_PARAMETER: "Missing parameter",
    UNKNOWN_CLIENT: "Unknown clientID",
    DUPLICATE_REQUEST: "Duplicate request",
    BAD_SIGNATURE_METHOD: "Unsupported signature method",
    BAD_SIGNATURE: "Invalid signature",
    UNREGISTERED_REDIRECT: "redirectURI is not registered",
    TOKEN_INVALID: "Access token missing or expired",
    DUPLICATE_BUSINESS_ID: "Duplicate businessID",
    INSUFFICIENT_SCOPE: "Insufficient scope",
    KEK_INVALID: "KEK missing or expired",
    CEK_INVALID: "CEK missing or expired",
    ENCRYPTION_ERROR: "Encryption error",
    DECRYPTION_ERROR: "Decryption error",
    LOGIN_CANCELLED: "User cancelled the authorisation",
    LOGIN_REJECTED: "User rejected the authorisation",
    LOGIN_TIMEOUT: "Authorisation timed out",
    AUTH_CODE_INVALID: "Authorisation code missing or expired",
    PROFILE_UNKNOWN_FIELD: "Unknown profile field",
    PROFILE_DECLINED: "User declined the profile request",
    PROFILE_TIMEOUT: "Profile request timed out",
    EME_UNKNOWN_FIELD: "Unknown e-ME field",
    EME_DECLINED: "User declined the e-ME request",
    EME_TIMEOUT: "e-ME request timed out",
    STEPUP_CANCELLED: "User cancelled the re-authentication",
    STEPUP_TIMEOUT: "Re-authentication timed out",
}


def message(code):
    return MESSAGES.get(code, "Error")


class ProtocolError(Exception):
    """A platform answer other than D00000.

    `detail` is appended to the standard message so that a developer sees
    which parameter was wrong; it never contains secrets.
    """

    def __init__(self, code, detail=None):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail

    @property
    def text(self):
        base = message(self.code)
        return "%s: %s" % (base, self.detail) if self.detail else base
