/*
 * Base64 codecs and bounded JSON parsing: the only entry points through which
 * core turns outside bytes into values.
 *
 * Base64url (RFC 4648 section 5, as JOSE uses it) is strict: no padding, no
 * whitespace, no character outside the alphabet, and the unused low bits of
 * the last character must be zero, so that one value has exactly one
 * encoding.  Standard base64 (the iAM Smart wire protocol) requires padding
 * and is equally strict otherwise.
 *
 * JSON is parsed with jansson after a pre-scan that enforces a byte limit and
 * a nesting-depth limit (jansson itself allows 2048 levels), rejecting
 * duplicate object keys, NUL bytes inside strings and trailing data.
 */

#ifndef IAMSMART_ENCODING_H
#define IAMSMART_ENCODING_H

#include <stddef.h>
#include <jansson.h>

#include <iamsmart/status.h>

/* Bytes needed to encode n bytes (no padding, no NUL). */
size_t iams_b64url_encoded_len(size_t n);

/* Upper bound of the decoded size of n input characters. */
size_t iams_b64url_decoded_max(size_t n);

/* Writes iams_b64url_encoded_len(n) characters to out (no NUL added);
 * returns that length. */
size_t iams_b64url_encode(const unsigned char *in, size_t n, char *out);

/* Decodes strictly into out (capacity cap); *outlen receives the length.
 * IAMS_ERR_MALFORMED for any non-canonical input, IAMS_ERR_TOO_LARGE when
 * cap is too small. */
iams_status iams_b64url_decode(const char *in, size_t n, unsigned char *out,
    size_t cap, size_t *outlen);

/* Standard alphabet, with '=' padding. Same contracts as above. */
size_t iams_b64_encoded_len(size_t n);
size_t iams_b64_encode(const unsigned char *in, size_t n, char *out);
iams_status iams_b64_decode(const char *in, size_t n, unsigned char *out,
    size_t cap, size_t *outlen);


#define IAMS_JSON_MAX_DEPTH  32

/*
 * Parses exactly buf[0..len) as one JSON value.  Fails with IAMS_ERR_TOO_LARGE
 * when len > max_len and IAMS_ERR_JSON (detail says where) when the text is
 * invalid, nested deeper than IAMS_JSON_MAX_DEPTH, has a duplicate key or
 * trailing bytes.  The caller owns the result (json_decref).
 */
json_t *iams_json_parse(const char *buf, size_t len, size_t max_len,
    iams_err *err);

/* As iams_json_parse, and the value must be an object. */
json_t *iams_json_parse_object(const char *buf, size_t len, size_t max_len,
    iams_err *err);

#endif /* IAMSMART_ENCODING_H */
