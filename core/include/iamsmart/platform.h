/*
 * The iAM Smart client protocol (docs: IAMSMART_PROTOCOL.md), as pure
 * functions: they build request URLs and bodies and parse, verify and
 * decrypt replies and callbacks.  They do no I/O and keep no state; the
 * nginx module sends what they build through subrequests and feeds back
 * what it receives.  The sandbox implements the other side in Python.
 *
 * A server-to-server call goes:
 *
 *   body = iams_envelope_seal(cek, plaintext JSON)     (getKey: empty body)
 *   headers = iams_sign_request(client, secret, ts, nonce, body)
 *   reply = POST
 *   iams_envelope_open_reply(cek, reply) -> code + decrypted content
 *   on a code whose action is IAMS_PACTION_REFRESH_CEK: getKey, retry once.
 *
 * Memory: functions that produce text return it through char **out, a
 * malloc()ed NUL-terminated buffer owned by the caller (free()); json_t *
 * results are new references (json_decref).  Input strings are (pointer,
 * length) pairs borrowed for the duration of the call.  Fixed-size results
 * live in caller-provided structs.  Secrets (CEK, client secret, access
 * token) are cleansed by the *_clear functions; the initiateRequest bodies
 * hold the access token, so cleanse them (OPENSSL_cleanse) before free().
 *
 * Every input from the platform or the browser is bounded before it is
 * parsed: IAMS_PLATFORM_REPLY_MAX for replies and callbacks, the limits
 * below for each field.  Malformed input fails with IAMS_ERR_MALFORMED,
 * IAMS_ERR_JSON or IAMS_ERR_TOO_LARGE; a failed authentication (GCM tag,
 * HMAC) with IAMS_ERR_BAD_SIGNATURE; a key problem with IAMS_ERR_KEY_INVALID.
 * A platform error code is not a core error: the functions succeed and
 * report the code in iams_reply (below).
 */

#ifndef IAMSMART_PLATFORM_H
#define IAMSMART_PLATFORM_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include <iamsmart/aead.h>
#include <iamsmart/secret.h>
#include <iamsmart/status.h>

#define IAMS_PLATFORM_REPLY_MAX  (256 * 1024)  /* reply or callback body */
#define IAMS_PLATFORM_FIELD_MAX  4096          /* one identifier field */

/* A borrowed string. */
typedef struct {
    const char  *data;
    size_t       len;
} iams_span;


/* ---- request signing (protocol section 2) ---- */

#define IAMS_SIGNATURE_METHOD   "HmacSHA256"
#define IAMS_NONCE_LEN          32      /* what iams_nonce_generate makes */
#define IAMS_NONCE_MAX          36      /* what the platform accepts */
#define IAMS_TIMESTAMP_MAX      20      /* digits of a uint64 */
#define IAMS_SIGNATURE_MAX      132     /* 44 base64 chars, each up to %XX */
#define IAMS_CLIENT_ID_MAX      128
#define IAMS_SIGNED_HEADERS     6

/* Strictly non-decreasing timestamps: max(last_ms, now_ms).  The caller
 * stores the result as the new last_ms (per worker). */
uint64_t iams_timestamp_next(uint64_t last_ms, uint64_t now_ms);

/* IAMS_NONCE_LEN random characters of [A-Za-z0-9_-] and a NUL. */
iams_status iams_nonce_generate(char out[IAMS_NONCE_LEN + 1], iams_err *err);

typedef struct {
    const char  *name;       /* static */
    const char  *value;      /* borrowed, see iams_signed_request_headers */
    size_t       value_len;
} iams_header;

typedef struct {
    char    timestamp[IAMS_TIMESTAMP_MAX + 1];
    size_t  timestamp_len;
    char    nonce[IAMS_NONCE_MAX + 1];
    size_t  nonce_len;
    char    signature[IAMS_SIGNATURE_MAX + 1];  /* URL-encoded, as sent */
    size_t  signature_len;
} iams_signed_request;

/*
 * signature = URLEncode(Base64(HMAC-SHA256(key = client_secret,
 *     msg = client_id || "HmacSHA256" || timestamp || nonce || body)))
 *
 * URLEncode is form encoding as Java's URLEncoder does it ('+' -> %2B,
 * '/' -> %2F, '=' -> %3D).  body is the exact bytes to be sent (empty for
 * getKey).  client_id: 1..IAMS_CLIENT_ID_MAX printable ASCII; nonce:
 * 1..IAMS_NONCE_MAX of [A-Za-z0-9_-]; secret: at least 1 byte.
 */
iams_status iams_sign_request(iams_span client_id,
    const unsigned char *client_secret, size_t secret_len,
    uint64_t timestamp_ms, iams_span nonce,
    const unsigned char *body, size_t body_len,
    iams_signed_request *out, iams_err *err);

/*
 * The six headers of a signed request, in order: clientID,
 * signatureMethod, timestamp, nonce, signature, Content-Type.  Values point
 * into req and client_id, which must outlive headers.
 */
void iams_signed_request_headers(const iams_signed_request *req,
    iams_span client_id, iams_header headers[IAMS_SIGNED_HEADERS]);


/* ---- KEK: the service's RSA encipherment key (section 3) ---- */

typedef struct iams_kek  iams_kek;     /* RSA private key, >= 2048 bits */

/* PEM ("BEGIN PRIVATE KEY" / "BEGIN RSA PRIVATE KEY", unencrypted) or DER
 * (PKCS#8 or PKCS#1).  IAMS_ERR_KEY_INVALID / IAMS_ERR_KEY_WEAK. */
iams_status iams_kek_parse(const char *buf, size_t len, iams_kek **out,
    iams_err *err);
iams_status iams_kek_load_file(const char *path, iams_kek **out,
    iams_err *err);
void iams_kek_free(iams_kek *kek);

/* Base64 (standard, padded) of the SubjectPublicKeyInfo DER, borrowed from
 * kek, NUL-terminated: the form getKey's "pubKey" takes (for logs and for
 * registering the key; getKey replies are compared as keys, not text). */
const char *iams_kek_spki_b64(const iams_kek *kek);

typedef enum {
    /* PKCS#1 v1.5, then OAEP (SHA-1) when that fails.  Both are always
     * computed, so timing does not tell which padding check failed. */
    IAMS_KEK_PAD_AUTO = 0,
    IAMS_KEK_PAD_PKCS1,
    IAMS_KEK_PAD_OAEP
} iams_kek_padding;

/*
 * RSA decryption of ct (exactly the modulus size) into out (cap bytes).
 * PKCS#1 v1.5 is checked strictly: the implicit rejection of OpenSSL 3.2+
 * is turned off, so invalid padding fails instead of yielding random bytes.
 * Every failure is the same IAMS_ERR_KEY_INVALID with the same detail: a
 * caller must not reveal more (a Bleichenbacher oracle needs only one bit).
 */
iams_status iams_kek_decrypt(const iams_kek *kek, iams_kek_padding pad,
    const unsigned char *ct, size_t ct_len, unsigned char *out, size_t cap,
    size_t *out_len, iams_err *err);


/* ---- CEK: the AES-256 content key the platform hands out ---- */

#define IAMS_CEK_LEN              IAMS_AES256_KEY_LEN
#define IAMS_CEK_REFRESH_MAX_MS   (10 * 60 * 1000)
#define IAMS_CEK_LIFETIME_MAX_MS  ((int64_t) 31 * 24 * 3600 * 1000)

typedef struct {
    unsigned char  key[IAMS_CEK_LEN];
    int64_t        issue_at_ms;     /* platform clock, as given */
    int64_t        expires_in_ms;   /* lifetime */
    int64_t        fetched_at_ms;   /* our clock, when unwrapped */
} iams_cek;

/*
 * Unwraps Base64(RSA(KEK, CEK)) into key: the plaintext must be exactly 32
 * bytes.  Used for getKey replies and for every encrypted callback.
 */
iams_status iams_cek_unwrap(const iams_kek *kek, iams_kek_padding pad,
    const char *b64, size_t b64_len, unsigned char key[IAMS_CEK_LEN],
    iams_err *err);

/*
 * Once the refresh point is reached the caller fetches a new CEK (the old
 * one stays usable until it expires): the point is the expiry minus
 * min(lifetime / 5, IAMS_CEK_REFRESH_MAX_MS), i.e. ten minutes early for
 * the usual one-day CEK and at 80% of the lifetime for short-lived ones.
 * Times are measured on our clock from fetched_at_ms, so a skewed platform
 * clock does not matter.
 */
int iams_cek_should_refresh(const iams_cek *cek, int64_t now_ms);
int iams_cek_is_expired(const iams_cek *cek, int64_t now_ms);

void iams_cek_clear(iams_cek *cek);

/*
 * The CEK sealed for a Redis cache entry (sealed.h, version "c1", purpose
 * IAMS_KEY_CEK_CACHE, context = the Redis key), so Redis never holds it in
 * the clear.  *out is malloc()ed, owned by the caller.
 */
iams_status iams_cek_cache_encode(const iams_cek *cek,
    const iams_keyring *kr, iams_span redis_key, char **out,
    size_t *out_len, iams_err *err);
iams_status iams_cek_cache_decode(const iams_keyring *kr,
    iams_span redis_key, const char *in, size_t in_len, iams_cek *cek,
    iams_err *err);


/* ---- response codes (D.....) ---- */

#define IAMS_CODE_LEN      6      /* "D00000" */
#define IAMS_TXID_MAX      64
#define IAMS_MESSAGE_MAX   160

typedef enum {
    IAMS_PCODE_OK = 0,                 /* D00000 */
    IAMS_PCODE_BAD_PARAMETER,          /* D20001-D20003 */
    IAMS_PCODE_DUPLICATE_REQUEST,      /* D20004: replayed nonce */
    IAMS_PCODE_SIGNATURE,              /* D20005, D20006 */
    IAMS_PCODE_REDIRECT_UNREGISTERED,  /* D20008 */
    IAMS_PCODE_TOKEN_EXPIRED,          /* D20009 */
    IAMS_PCODE_DUPLICATE_BUSINESS_ID,  /* D20011 */
    IAMS_PCODE_INSUFFICIENT_SCOPE,     /* D20012 */
    IAMS_PCODE_GENERAL,                /* other D2xxxx */
    IAMS_PCODE_KEY,                    /* D30001-D30004 */
    IAMS_PCODE_ENCRYPTION,             /* other D3xxxx */
    IAMS_PCODE_USER_CANCELLED,         /* D40000 */
    IAMS_PCODE_USER_REJECTED,          /* D40001 */
    IAMS_PCODE_AUTH_TIMEOUT,           /* D40003 */
    IAMS_PCODE_AUTH_CODE_EXPIRED,      /* D40004 */
    IAMS_PCODE_AUTH,                   /* other D4xxxx */
    IAMS_PCODE_PROFILE,                /* D5xxxx */
    IAMS_PCODE_EME,                    /* D6xxxx */
    IAMS_PCODE_SIGNING_HKID_MISMATCH,  /* D70005 */
    IAMS_PCODE_SIGNING,                /* other D7xxxx */
    IAMS_PCODE_STEPUP,                 /* D8xxxx */
    IAMS_PCODE_RATE_LIMITED,           /* HTTP 429 (no D code) */
    IAMS_PCODE_UNKNOWN,                /* anything else */
    IAMS_PCODE_COUNT
} iams_pcode;

/*
 * What the gateway does about a code.  RELOGIN may restart the login at
 * once (the platform token or the authorization code is gone); USER shows
 * the message with a button to try again and never loops by itself;
 * RETRY_LATER and FAIL show the message, FAIL also logs at error level.
 */
typedef enum {
    IAMS_PACTION_NONE = 0,       /* success */
    IAMS_PACTION_REFRESH_CEK,    /* fetch a new CEK, retry once */
    IAMS_PACTION_RELOGIN,        /* the login or token is gone: log in again */
    IAMS_PACTION_RETRY_LATER,    /* transient: tell the user to retry */
    IAMS_PACTION_USER,           /* the user's decision: explain, offer retry */
    IAMS_PACTION_FAIL            /* our or the platform's fault: log error */
} iams_paction;

typedef enum {
    IAMS_LANG_EN = 0,
    IAMS_LANG_ZH_HK,
    IAMS_LANG_COUNT
} iams_lang;

/* "D" and five digits, classified; IAMS_PCODE_UNKNOWN for anything else. */
iams_pcode iams_pcode_classify(const char *code, size_t len);
iams_paction iams_pcode_action(iams_pcode pc);

/* Stable snake_case name for logs and variables ("user_cancelled"). */
const char *iams_pcode_name(iams_pcode pc);

/* Static UTF-8 sentence for the citizen's error page. */
const char *iams_pcode_message(iams_pcode pc, iams_lang lang);

/* IAMS_LANG_ZH_HK for tags starting "zh" (any case), else IAMS_LANG_EN. */
iams_lang iams_lang_from_tag(const char *tag, size_t len);

/* Platform "lang" value for lang: "en-US" or "zh-HK". */
const char *iams_lang_platform_name(iams_lang lang);


/* ---- replies and the payload envelope ---- */

/* The outer members every reply and callback carries.  Plain storage. */
typedef struct {
    char        code[IAMS_CODE_LEN + 1];        /* "D00000", or "" */
    iams_pcode  pcode;
    char        tx_id[IAMS_TXID_MAX + 1];       /* "" when absent */
    char        message[IAMS_MESSAGE_MAX + 1];  /* printable ASCII only;
                                                   other bytes become '?' */
} iams_reply;

/*
 * Parses a reply body (at most IAMS_PLATFORM_REPLY_MAX bytes): a JSON
 * object with a string "code" of the D-code shape (IAMS_ERR_MALFORMED
 * otherwise), optional string "txID" and "message".  *root (if not NULL)
 * receives the parsed object (new reference) for the caller to read
 * "content" from.
 */
iams_status iams_reply_parse(const char *body, size_t len, iams_reply *reply,
    json_t **root, iams_err *err);

/*
 * {"content":"<Base64(uint32_be(12) || IV[12] || ct || tag[16])>"} for
 * plaintext pt under cek with a fresh random IV.  *out is malloc()ed.
 */
iams_status iams_envelope_seal(const unsigned char key[IAMS_CEK_LEN],
    const unsigned char *pt, size_t pt_len, char **out, size_t *out_len,
    iams_err *err);

/*
 * Decrypts one "content" value.  The IV length prefix must be 12 and the
 * whole at least 4 + 12 + 16 bytes; the plaintext is at most
 * IAMS_PLATFORM_REPLY_MAX bytes.  *pt is malloc()ed with an extra NUL,
 * owned by the caller.
 */
iams_status iams_envelope_decrypt(const unsigned char key[IAMS_CEK_LEN],
    const char *b64, size_t b64_len, unsigned char **pt, size_t *pt_len,
    iams_err *err);

/*
 * A whole encrypted API reply: iams_reply_parse, then, when the code is
 * D00000, decrypts "content" (required) and parses it as a JSON object into
 * *content (new reference).  For any other code *content is NULL and the
 * call succeeds: the caller acts on reply->pcode.
 */
iams_status iams_envelope_open_reply(const unsigned char key[IAMS_CEK_LEN],
    const char *body, size_t len, iams_reply *reply, json_t **content,
    iams_err *err);

/*
 * The getKey reply (not encrypted): on D00000, unwraps content.secretKey,
 * checks that content.pubKey (Base64 SPKI DER) is the KEK's public key
 * (IAMS_ERR_KEY_INVALID when the platform used another key, e.g. after a
 * certificate rotation), and fills cek.  issueAt and expiresIn are epoch ms
 * and ms; expiresIn above 10^12 is read as an absolute epoch.  For another
 * code the call succeeds with cek zeroed: check reply->pcode.
 */
iams_status iams_cek_from_getkey_reply(const iams_kek *kek,
    iams_kek_padding pad, const char *body, size_t len, int64_t now_ms,
    iams_cek *cek, iams_reply *reply, iams_err *err);


/* ---- login: getQR redirect, callback, return URL (section 1) ---- */

typedef enum {
    IAMS_SOURCE_PC_BROWSER = 0,
    IAMS_SOURCE_ANDROID_CHROME,
    IAMS_SOURCE_ANDROID_FIREFOX,
    IAMS_SOURCE_ANDROID_EDGE,
    IAMS_SOURCE_ANDROID_SAMSUNG,
    IAMS_SOURCE_ANDROID_HUAWEI,
    IAMS_SOURCE_ANDROID_XIAOMI,
    IAMS_SOURCE_ANDROID_IMS_INAPP,
    IAMS_SOURCE_IOS_SAFARI,
    IAMS_SOURCE_IOS_CHROME,
    IAMS_SOURCE_IOS_FIREFOX,
    IAMS_SOURCE_IOS_EDGE,
    IAMS_SOURCE_IOS_IMS_INAPP,
    IAMS_SOURCE_APP_LINK,
    IAMS_SOURCE_APP_PACKAGE,
    IAMS_SOURCE_APP_SCHEME,
    IAMS_SOURCE_COUNT
} iams_source;

#define IAMS_USER_AGENT_MAX  1024   /* only this prefix is examined */

/* The wire name ("Android_Chrome"); "PC_Browser" for out-of-range values. */
const char *iams_source_name(iams_source src);

/* Exact wire name to enum (for configuration); IAMS_SOURCE_COUNT when
 * unknown. */
iams_source iams_source_from_name(const char *name, size_t len);

/*
 * Best guess from a User-Agent header (case-insensitive tokens): "iPhone",
 * "iPad", "iPod" -> iOS (CriOS, FxiOS, EdgiOS, else Safari); "Android" ->
 * SamsungBrowser, HuaweiBrowser, MiuiBrowser/XiaoMi, EdgA, Firefox, else
 * Chrome; the token "iAMSmart" anywhere -> the app's in-app browser on that
 * platform; everything else, including iPadOS in desktop mode, ->
 * PC_Browser (the QR page works everywhere).  NULL or empty: PC_Browser.
 */
iams_source iams_source_from_user_agent(const char *ua, size_t len);

/* brokerPage=true for browsers on a phone (deep link into the app);
 * false on a PC (QR page), inside the app's own browser, and for App_*. */
int iams_source_broker_page(iams_source src);

#define IAMS_STATE_LEN   32         /* what iams_state_generate makes */
#define IAMS_STATE_MAX   36
#define IAMS_AUTH_CODE_MAX  512
#define IAMS_SCOPE_MAX   512

/* IAMS_STATE_LEN random characters of [A-Za-z0-9_-] and a NUL. */
iams_status iams_state_generate(char out[IAMS_STATE_LEN + 1], iams_err *err);

/* 1..IAMS_STATE_MAX characters of [A-Za-z0-9_-]. */
int iams_state_valid(const char *s, size_t len);

typedef struct {
    iams_span    base_url;      /* "https://host[:port][/prefix]", no query;
                                   "/api/v1/auth/getQR" is appended */
    iams_span    client_id;
    iams_span    redirect_uri;  /* absolute http(s) URL as registered */
    iams_span    scope;         /* space-separated [A-Za-z0-9_.:-] tokens */
    iams_span    lang;          /* "en-US", "zh-HK", "zh-CN"; empty: omit */
    iams_span    state;         /* iams_state_valid */
    iams_span    ticket_id;     /* anonymous flows only; empty: omit */
    iams_source  source;
    int          broker_page;
} iams_getqr_params;

/* The full getQR URL, every value percent-encoded (RFC 3986 unreserved
 * characters kept).  *out is malloc()ed. */
iams_status iams_getqr_url(const iams_getqr_params *p, char **out,
    size_t *out_len, iams_err *err);

typedef struct {
    int     is_error;                         /* error_code present */
    char    code[IAMS_AUTH_CODE_MAX + 1];     /* authorization code */
    size_t  code_len;
    char    state[IAMS_STATE_MAX + 1];        /* "" if absent on error */
    size_t  state_len;
    char    error_code[IAMS_CODE_LEN + 1];    /* "D40000", ... */
    iams_pcode  error_pcode;
} iams_login_callback;

/*
 * Parses the callback's raw query string (without "?", at most 4096
 * bytes, 32 parameters): percent-decodes "code", "state" and "error_code",
 * ignores other names, rejects a repeated known name.  Either error_code
 * ("D" + 5 digits) or code (1..IAMS_AUTH_CODE_MAX characters of
 * [A-Za-z0-9._~+/=-]) must be present, not both; state is required with a
 * code and must pass iams_state_valid whenever present.
 */
iams_status iams_login_callback_parse(const char *args, size_t len,
    iams_login_callback *cb, iams_err *err);

#define IAMS_RETURN_URL_MAX  2048

/*
 * Accepts only a same-origin path-absolute reference, the exact string that
 * will go into a Location header: at most IAMS_RETURN_URL_MAX bytes, first
 * byte "/", second byte neither "/" nor "\" (a scheme-relative "//host" or
 * "/\host" leaves the site), no "\" anywhere (browsers read it as "/"), no
 * byte outside 0x21-0x7e (control characters, spaces, tabs and newlines are
 * stripped or mangled by browsers; non-ASCII must arrive percent-encoded).
 * Percent-encoded text is not decoded: "/%2F%2Fevil" is the path
 * "/%2F%2Fevil" on this site, which browsers do not turn into "//evil".
 * IAMS_ERR_MALFORMED otherwise.
 */
iams_status iams_return_url_check(const char *url, size_t len,
    iams_err *err);


/* ---- getToken (section 1.4) ---- */

#define IAMS_TOKEN_MAX     4096
#define IAMS_OPENID_MAX    256

/* {"code":"<code>","grantType":"authorization_code"}, to be sealed. */
iams_status iams_token_request_body(iams_span code, char **out,
    size_t *out_len, iams_err *err);

typedef struct {
    char     *access_token;     /* owned; cleansed by iams_token_clear */
    char     *token_type;       /* owned; "Bearer" */
    char     *open_id;          /* owned */
    char     *user_type;        /* owned; "" when absent */
    char     *scope;            /* owned; "" when absent */
    char     *ticket_id;        /* owned; "" unless anonymous */
    int64_t   issue_at_ms;
    int64_t   expires_at_ms;    /* absolute, computed as documented */
    int64_t   last_modified_ms; /* 0 when absent */
} iams_token;

/*
 * From the decrypted getToken content.  Required: accessToken (1..
 * IAMS_TOKEN_MAX printable ASCII), openID (1..IAMS_OPENID_MAX), expiresIn;
 * tokenType, when present, must be "Bearer" (any case).  Numbers may be
 * JSON integers or strings of digits.  issueAt defaults to now_ms;
 * expires_at_ms = expiresIn when it exceeds 10^12 (an absolute epoch),
 * else issueAt + expiresIn.  On failure *tok is left cleared.
 */
iams_status iams_token_parse(const json_t *content, int64_t now_ms,
    iams_token *tok, iams_err *err);

/*
 * The getToken content of an anonymous flow (section 5): as above, but
 * the platform names no citizen: openID is not required (and ignored;
 * open_id is ""), and ticketID (1..IAMS_TICKET_ID_MAX printable ASCII),
 * the ticket the token is bound to, is required.
 */
iams_status iams_anonymous_token_parse(const json_t *content, int64_t now_ms,
    iams_token *tok, iams_err *err);

void iams_token_clear(iams_token *tok);


/* ---- step-up, e-ME and profile requests (sections 4 and 5) ---- */

#define IAMS_BUSINESS_ID_LEN  32    /* what iams_business_id_generate makes */
#define IAMS_BUSINESS_ID_MAX  36
#define IAMS_TICKET_ID_MAX    128
#define IAMS_FIELDS_MAX       32    /* requested field names */

/* IAMS_BUSINESS_ID_LEN random characters of [A-Za-z0-9_-] and a NUL. */
iams_status iams_business_id_generate(char out[IAMS_BUSINESS_ID_LEN + 1],
    iams_err *err);

/* The members every initiateRequest carries. */
typedef struct {
    iams_span    open_id;
    iams_span    access_token;
    iams_span    business_id;   /* 1..IAMS_BUSINESS_ID_MAX printable ASCII */
    iams_span    redirect_uri;
    iams_span    state;         /* iams_state_valid */
    iams_span    lang;          /* "en-US", "zh-HK", "zh-CN" */
    iams_source  source;
} iams_initiate_common;

/* {openID, accessToken, businessID, source, redirectURI, state, lang} for
 * /api/v1/account/stepup/initiateRequest. */
iams_status iams_stepup_request_body(const iams_initiate_common *c,
    char **out, size_t *out_len, iams_err *err);

typedef enum {
    IAMS_FIELDS_EME = 0,     /* eMEFields[], formName, formNum, formDesc */
    IAMS_FIELDS_PROFILE,     /* profileFields[] */
    IAMS_FIELDS_EME_ANONYMOUS /* as EME, without a login: of the common
                                 members only businessID, source and lang
                                 are checked and sent */
} iams_fields_kind;

typedef struct {
    iams_initiate_common  common;
    iams_fields_kind      kind;
    const iams_span      *fields;     /* 1..IAMS_FIELDS_MAX names of
                                         [A-Za-z0-9], at most 64 each */
    size_t                nfields;
    iams_span             form_name;  /* e-ME only: <= 255 bytes, UTF-8 */
    iams_span             form_num;   /* e-ME only: <= 20 */
    iams_span             form_desc;  /* e-ME only: <= 255 */
} iams_data_request;

/* The body for /api/v1/account/eme/initiateRequest (IAMS_FIELDS_EME),
 * /api/v1/account/auth/profile/initiateRequest (IAMS_FIELDS_PROFILE) or
 * /api/v1/anonymous/eme/initiateRequest (IAMS_FIELDS_EME_ANONYMOUS). */
iams_status iams_data_request_body(const iams_data_request *r, char **out,
    size_t *out_len, iams_err *err);

typedef struct {
    char  ticket_id[IAMS_TICKET_ID_MAX + 1];
    int   auth_by_qr;
} iams_initiate_result;

/* The decrypted content of an initiateRequest reply: {authByQR, ticketID}
 * (authByQR a boolean or "true"/"false"; absent: 0, as the anonymous
 * request's reply carries only the ticketID). */
iams_status iams_initiate_result_parse(const json_t *content,
    iams_initiate_result *r, iams_err *err);


/* ---- encrypted callbacks from the platform ---- */

/*
 * A callback body {txID, code, message, content, secretKey}: the CEK that
 * comes with it is unwrapped with the KEK (it may be newer than the cached
 * one) and "content" is decrypted and parsed as a JSON object into
 * *content (new reference).  With a code other than D00000 and no (or
 * empty) content the call succeeds with *content NULL; otherwise content
 * and secretKey are required (IAMS_ERR_MALFORMED).
 *
 * Every decryption failure, RSA or GCM, gives IAMS_ERR_KEY_INVALID with
 * the detail "callback decryption failed" and about the same time: answer
 * them all with one response, or the endpoint becomes a padding oracle.
 *
 * The encryption proves nothing about the sender: anyone can wrap a CEK
 * of their choice under the public KEK.  Accept a callback only when its
 * businessID and state match a pending request the gateway made (both
 * random and unguessable), and where available a TLS client certificate.
 */
iams_status iams_callback_open(const iams_kek *kek, iams_kek_padding pad,
    const char *body, size_t len, iams_reply *reply, json_t **content,
    iams_err *err);

typedef struct {
    char  business_id[IAMS_BUSINESS_ID_MAX + 1];
    char  state[IAMS_STATE_MAX + 1];         /* "" when absent */
    int   passed;
} iams_stepup_result;

/* {businessID, state, isPassed}: isPassed a boolean or "true"/"false". */
iams_status iams_stepup_result_parse(const json_t *content,
    iams_stepup_result *r, iams_err *err);

typedef struct {
    char     business_id[IAMS_BUSINESS_ID_MAX + 1];
    char     state[IAMS_STATE_MAX + 1];      /* "" when absent */
    json_t  *fields;   /* owned: content without businessID and state */
} iams_data_result;

/* {businessID, state, <fields>...} of an e-ME or profile callback. */
iams_status iams_data_result_parse(const json_t *content,
    iams_data_result *r, iams_err *err);

void iams_data_result_clear(iams_data_result *r);

/*
 * {accessToken, ticketID, businessID} for the anonymous flow's
 * /api/v1/anonymous/eme/getResult, to be sealed: the token of the
 * anonymous getToken and the ticket and businessID of its request.  Its
 * reply content is read with iams_data_result_parse.
 */
iams_status iams_anonymous_result_request_body(iams_span access_token,
    iams_span ticket_id, iams_span business_id, char **out, size_t *out_len,
    iams_err *err);

#endif /* IAMSMART_PLATFORM_H */
