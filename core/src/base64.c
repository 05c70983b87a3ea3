/*
 * Strict base64url (RFC 4648 section 5, unpadded, as JOSE uses it) and
 * strict padded standard base64.
 *
 * Decoding accepts exactly one encoding per value: no whitespace, no
 * character outside the alphabet, no padding in base64url, exact padding in
 * base64, and the unused low bits of the last character must be zero.  A
 * signature or key that decodes from two different strings would let a
 * token be altered without breaking its signature check.
 */

#include <stdint.h>
#include <string.h>

#include <iamsmart/encoding.h>


static const char  iams_b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static const char  iams_b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";


static int
iams_b64_value(unsigned char c, int url)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == (url ? '-' : '+')) {
        return 62;
    }

    if (c == (url ? '_' : '/')) {
        return 63;
    }

    return -1;
}


/* Encodes without padding; returns the number of characters written. */
static size_t
iams_b64_encode_raw(const unsigned char *in, size_t n, char *out,
    const char *alphabet)
{
    size_t    i, o;
    uint32_t  v;

    o = 0;

    for (i = 0; i + 3 <= n; i += 3) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
        out[o++] = alphabet[(v >> 18) & 0x3f];
        out[o++] = alphabet[(v >> 12) & 0x3f];
        out[o++] = alphabet[(v >> 6) & 0x3f];
        out[o++] = alphabet[v & 0x3f];
    }

    if (n - i == 1) {
        v = (uint32_t) in[i] << 16;
        out[o++] = alphabet[(v >> 18) & 0x3f];
        out[o++] = alphabet[(v >> 12) & 0x3f];

    } else if (n - i == 2) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;
        out[o++] = alphabet[(v >> 18) & 0x3f];
        out[o++] = alphabet[(v >> 12) & 0x3f];
        out[o++] = alphabet[(v >> 6) & 0x3f];
    }

    return o;
}


/*
 * Decodes n unpadded characters; n % 4 must not be 1.  Every character must
 * be in the alphabet and the bits a short final group leaves over must be
 * zero.
 */
static iams_status
iams_b64_decode_raw(const char *in, size_t n, unsigned char *out, size_t cap,
    size_t *outlen, int url)
{
    int       c;
    size_t    i, o, need, rem;
    uint32_t  v;

    rem = n % 4;

    if (rem == 1) {
        return IAMS_ERR_MALFORMED;
    }

    need = n / 4 * 3 + (rem ? rem - 1 : 0);

    if (need > cap) {
        return IAMS_ERR_TOO_LARGE;
    }

    o = 0;
    v = 0;

    for (i = 0; i < n; i++) {
        c = iams_b64_value((unsigned char) in[i], url);

        if (c < 0) {
            return IAMS_ERR_MALFORMED;
        }

        v = v << 6 | (uint32_t) c;

        if (i % 4 == 3) {
            out[o++] = (unsigned char) (v >> 16);
            out[o++] = (unsigned char) (v >> 8);
            out[o++] = (unsigned char) v;
            v = 0;
        }
    }

    if (rem == 2) {
        if (v & 0x0f) {
            return IAMS_ERR_MALFORMED;
        }

        out[o++] = (unsigned char) (v >> 4);

    } else if (rem == 3) {
        if (v & 0x03) {
            return IAMS_ERR_MALFORMED;
        }

        out[o++] = (unsigned char) (v >> 10);
        out[o++] = (unsigned char) (v >> 2);
    }

    *outlen = o;

    return IAMS_OK;
}


size_t
iams_b64url_encoded_len(size_t n)
{
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}


size_t
iams_b64url_decoded_max(size_t n)
{
    return n / 4 * 3 + (n % 4 > 1 ? n % 4 - 1 : 0);
}


size_t
iams_b64url_encode(const unsigned char *in, size_t n, char *out)
{
    return iams_b64_encode_raw(in, n, out, iams_b64url_alphabet);
}


iams_status
iams_b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap,
    size_t *outlen)
{
    *outlen = 0;

    return iams_b64_decode_raw(in, n, out, cap, outlen, 1);
}


size_t
iams_b64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}


size_t
iams_b64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t  o;

    o = iams_b64_encode_raw(in, n, out, iams_b64_alphabet);

    while (o % 4 != 0) {
        out[o++] = '=';
    }

    return o;
}


iams_status
iams_b64_decode(const char *in, size_t n, unsigned char *out, size_t cap,
    size_t *outlen)
{
    size_t  pad;

    *outlen = 0;

    if (n % 4 != 0) {
        return IAMS_ERR_MALFORMED;
    }

    pad = 0;

    if (n > 0 && in[n - 1] == '=') {
        pad = (in[n - 2] == '=') ? 2 : 1;
    }

    /* any other '=' falls outside the alphabet below */
    return iams_b64_decode_raw(in, n - pad, out, cap, outlen, 0);
}
