/*
 * Shared unit-test helpers: test vector files under $IAMSMART_VECTORS, hex
 * and base64url conversion, and temporary files.  Each helper fails the
 * running cmocka test instead of returning an error, so tests stay flat.
 * Every returned buffer is malloc()ed and freed by the caller.
 */

#ifndef IAMS_TEST_VECTORS_H
#define IAMS_TEST_VECTORS_H

#include <stddef.h>
#include <jansson.h>

/* The whole file at path, NUL-terminated. */
char *iams_test_read_file(const char *path, size_t *len);

/* The whole file $IAMSMART_VECTORS/relpath, NUL-terminated. */
char *iams_test_read_vector(const char *relpath, size_t *len);

/* The same file parsed as JSON (caller decrefs). */
json_t *iams_test_load_vector_json(const char *relpath);

/* Hex to bytes; fails the test on odd length or a non-hex digit.
 * Returns a buffer of at least one byte even for "". */
unsigned char *iams_test_hex(const char *hex, size_t *len);

/* Base64url of bytes, NUL-terminated. */
char *iams_test_b64url(const unsigned char *in, size_t n);

/* Base64url decoding of a NUL-terminated string; fails the test when it
 * does not decode strictly. */
unsigned char *iams_test_unb64url(const char *s, size_t *len);

/* Writes len bytes to a new file under /tmp; returns its path (caller
 * unlinks and frees). */
char *iams_test_temp_file(const void *data, size_t len);

#endif /* IAMS_TEST_VECTORS_H */
