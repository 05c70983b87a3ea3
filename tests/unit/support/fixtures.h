/*
 * Helpers of the iAM Smart protocol and session tests: files under
 * tests/unit/fixtures/ (keys and protocol messages generated with openssl
 * and python3-cryptography, see fixtures/make_fixtures.py), key rings and
 * spans.  The directory is found from $IAMSMART_ROOT (set by the
 * Makefile), else from the current directory.  Helpers fail the running
 * test on error; returned buffers are malloc()ed and freed by the caller.
 */

#ifndef IAMS_TEST_FIXTURES_H
#define IAMS_TEST_FIXTURES_H

#include <stddef.h>
#include <jansson.h>

#include <iamsmart/platform.h>
#include <iamsmart/secret.h>

/* a string literal and its length, for (pointer, length) arguments */
#define LIT(s)  s, sizeof(s) - 1

/* The absolute or relative path of fixtures/name (static buffer). */
const char *iams_test_fixture_path(const char *name);

/* The whole file, NUL-terminated. */
char *iams_test_read_fixture(const char *name, size_t *len);

/* The file parsed as JSON (caller decrefs). */
json_t *iams_test_load_fixture_json(const char *name);

/* A JSON value serialized compactly, NUL-terminated (caller frees). */
char *iams_test_dump(const json_t *value, size_t *len);

/* A span over a NUL-terminated string (borrowed). */
iams_span iams_test_span(const char *s);

/* iams_keyring_parse of a secret file text, which must succeed. */
iams_keyring *iams_test_keyring(const char *text);

#endif /* IAMS_TEST_FIXTURES_H */
