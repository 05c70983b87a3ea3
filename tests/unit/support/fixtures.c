/*
 * Fixture files of the unit tests; see fixtures.h.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/fixtures.h"
#include "support/vectors.h"


const char *
iams_test_fixture_path(const char *name)
{
    static char  path[4096];
    const char  *root;

    root = getenv("IAMSMART_ROOT");
    snprintf(path, sizeof(path), "%s/tests/unit/fixtures/%s",
             root ? root : ".", name);

    return path;
}


char *
iams_test_read_fixture(const char *name, size_t *len)
{
    return iams_test_read_file(iams_test_fixture_path(name), len);
}


json_t *
iams_test_load_fixture_json(const char *name)
{
    char          *buf;
    size_t         len;
    json_t        *doc;
    json_error_t   jerr;

    buf = iams_test_read_fixture(name, &len);
    doc = json_loadb(buf, len, 0, &jerr);
    free(buf);

    if (doc == NULL) {
        fail_msg("fixture %s: %s", name, jerr.text);
    }

    return doc;
}


iams_span
iams_test_span(const char *s)
{
    iams_span  sp;

    sp.data = s;
    sp.len = strlen(s);

    return sp;
}


iams_keyring *
iams_test_keyring(const char *text)
{
    iams_err       err;
    iams_keyring  *kr;

    if (iams_keyring_parse(text, strlen(text), &kr, &err) != IAMS_OK) {
        fail_msg("keyring: %s", err.detail);
    }

    return kr;
}


char *
iams_test_dump(const json_t *value, size_t *len)
{
    char  *s;

    s = json_dumps(value, JSON_COMPACT);
    assert_non_null(s);

    if (len != NULL) {
        *len = strlen(s);
    }

    return s;
}
