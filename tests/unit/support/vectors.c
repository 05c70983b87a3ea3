/*
 * Shared unit-test helpers; see vectors.h.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iamsmart/encoding.h>

#include "support/vectors.h"


char *
iams_test_read_file(const char *path, size_t *len)
{
    FILE  *f;
    char  *buf;
    long   size;

    f = fopen(path, "rb");

    if (f == NULL) {
        fail_msg("cannot open %s", path);
    }

    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    assert_true(size >= 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);

    buf = malloc((size_t) size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t) size, f), (size_t) size);
    fclose(f);

    buf[size] = '\0';

    if (len != NULL) {
        *len = (size_t) size;
    }

    return buf;
}


char *
iams_test_read_vector(const char *relpath, size_t *len)
{
    char         path[4096];
    const char  *dir;

    dir = getenv("IAMSMART_VECTORS");

    if (dir == NULL) {
        fail_msg("IAMSMART_VECTORS is not set");
    }

    snprintf(path, sizeof(path), "%s/%s", dir, relpath);

    return iams_test_read_file(path, len);
}


json_t *
iams_test_load_vector_json(const char *relpath)
{
    char          *buf;
    size_t         len;
    json_t        *doc;
    json_error_t   jerr;

    buf = iams_test_read_vector(relpath, &len);
    doc = json_loadb(buf, len, 0, &jerr);
    free(buf);

    if (doc == NULL) {
        fail_msg("%s: %s", relpath, jerr.text);
    }

    return doc;
}


static int
iams_test_nibble(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    fail_msg("not a hex digit: 0x%02x", (unsigned char) c);

    return -1;
}


unsigned char *
iams_test_hex(const char *hex, size_t *len)
{
    size_t          i, n;
    unsigned char  *out;

    n = strlen(hex);
    assert_int_equal(n % 2, 0);

    out = malloc(n / 2 + 1);
    assert_non_null(out);

    for (i = 0; i < n / 2; i++) {
        out[i] = (unsigned char) (iams_test_nibble(hex[2 * i]) << 4
                                  | iams_test_nibble(hex[2 * i + 1]));
    }

    *len = n / 2;

    return out;
}


char *
iams_test_b64url(const unsigned char *in, size_t n)
{
    char    *out;
    size_t   len;

    out = malloc(iams_b64url_encoded_len(n) + 1);
    assert_non_null(out);

    len = iams_b64url_encode(in, n, out);
    out[len] = '\0';

    return out;
}


unsigned char *
iams_test_unb64url(const char *s, size_t *len)
{
    size_t          n;
    unsigned char  *out;

    n = strlen(s);
    out = malloc(iams_b64url_decoded_max(n) + 1);
    assert_non_null(out);

    assert_int_equal(iams_b64url_decode(s, n, out,
                                        iams_b64url_decoded_max(n), len),
                     IAMS_OK);

    return out;
}


char *
iams_test_temp_file(const void *data, size_t len)
{
    int    fd;
    char  *path;

    path = strdup("/tmp/iams_unit_XXXXXX");
    assert_non_null(path);

    fd = mkstemp(path);
    assert_true(fd >= 0);

    assert_int_equal(write(fd, data, len), (ssize_t) len);
    close(fd);

    return path;
}
