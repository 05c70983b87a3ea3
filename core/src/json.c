/*
 * The one bounded JSON entry point of core.
 *
 * jansson nests up to 2048 levels and accepts what we hand it, so a
 * pre-scan enforces our own limits first: the byte length, and the nesting
 * depth counted outside string literals.  jansson then rejects duplicate
 * keys, "\u0000" in strings (JSON_ALLOW_NUL is not set) and anything but
 * whitespace after the value.
 */

#include <string.h>

#include <iamsmart/encoding.h>


/* Returns the offset of the first byte that makes the depth exceed the
 * limit, or len when the text stays within it. */
static size_t
iams_json_depth_scan(const char *buf, size_t len)
{
    size_t  i, depth;
    int     in_string, escaped;

    depth = 0;
    in_string = 0;
    escaped = 0;

    for (i = 0; i < len; i++) {
        char  c = buf[i];

        if (in_string) {
            if (escaped) {
                escaped = 0;

            } else if (c == '\\') {
                escaped = 1;

            } else if (c == '"') {
                in_string = 0;
            }

            continue;
        }

        switch (c) {

        case '"':
            in_string = 1;
            break;

        case '[':
        case '{':
            if (++depth > IAMS_JSON_MAX_DEPTH) {
                return i;
            }
            break;

        case ']':
        case '}':
            if (depth > 0) {
                depth--;
            }
            break;

        default:
            break;
        }
    }

    return len;
}


json_t *
iams_json_parse(const char *buf, size_t len, size_t max_len, iams_err *err)
{
    int           textlen;
    char         *near;
    size_t        at;
    json_t       *value;
    json_error_t  jerr;

    if (len > max_len) {
        iams_err_set(err, IAMS_ERR_TOO_LARGE,
                     "JSON text of %zu bytes exceeds the limit of %zu",
                     len, max_len);
        return NULL;
    }

    at = iams_json_depth_scan(buf, len);

    if (at != len) {
        iams_err_set(err, IAMS_ERR_JSON,
                     "nesting deeper than %d at byte %zu",
                     IAMS_JSON_MAX_DEPTH, at);
        return NULL;
    }

    value = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                       &jerr);

    if (value == NULL) {
        /* jansson quotes the offending input after " near "; the input may
         * be a secret, so only the reason and the position are kept */
        near = strstr(jerr.text, " near ");
        textlen = near ? (int) (near - jerr.text) : (int) strlen(jerr.text);

        iams_err_set(err, IAMS_ERR_JSON, "byte %d: %.*s",
                     jerr.position, textlen, jerr.text);
        return NULL;
    }

    return value;
}


json_t *
iams_json_parse_object(const char *buf, size_t len, size_t max_len,
    iams_err *err)
{
    json_t  *value;

    value = iams_json_parse(buf, len, max_len, err);

    if (value != NULL && !json_is_object(value)) {
        json_decref(value);
        iams_err_set(err, IAMS_ERR_JSON, "not a JSON object");
        return NULL;
    }

    return value;
}
