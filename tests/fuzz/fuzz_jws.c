/*
 * libFuzzer target for compact JWS and JWT claims: the input is a token,
 * run through everything the gateway does with a bearer token (parse,
 * claims, signature against a fixed key set, claim checks).
 *
 * The key set holds one key per algorithm family (RSA 2048, P-256, P-384,
 * P-521, Ed25519, a 64-byte oct key), and the seeds in corpus/fuzz_jws/ are
 * signed with their private halves by make_corpus.py, so mutations start
 * from tokens that pass every stage.  make_corpus.py refuses to run when
 * this literal and its keys disagree; regenerate both together.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <iamsmart/jose.h>


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const iams_jwks *fuzz_key_set(void);
static void fuzz_resign(const iams_jws *jws);


/* The claim policy the seeds satisfy (make_corpus.py: NOW, ISS, AUD). */
#define FUZZ_NOW  ((time_t) 1700000000)

static const char *const  fuzz_audiences[] = { "fuzz-aud", "other-aud" };

static const char  fuzz_jwks_text[] =
    /* BEGIN JWKS */
    "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"mEtdmYSRkBd1FBotuDs8zMLvIFiuQAW3zC"
    "FK4CaaV6XjBBmaX8TX6oFJSOOLn6wkAh0NDYbCepZjtVoXNCG_w1Rov3rv2729hxLtIvWq"
    "UouD64zc2sw_pPlfpjqiGME3w7abLieGVVh20TI810P5pIttj8_qlsL6U-qtZEu5xlNQmJ"
    "9MRxbpw-VsZp85o-9ngKwjxq7EvyxdtOqgrSlUB4cRv3wr5k4KrsMEARUKJdmbAov7Ddmi"
    "0lT5Iob_Q8zh-sE05KLN9b3KfcMIXs1GnMFJMDXGL0WXJ_LgRviOY45iFhPOTqySIxCMTb"
    "ZKlu_IbUpYhFNU6WKVxFlHuV5Qnw\",\"e\":\"AQAB\",\"kid\":\"rsa\",\"key_op"
    "s\":[\"verify\"]},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"qiliEJa4YH"
    "-ueuwNgtB91uGluegESrgwb2HTirx8nGc\",\"y\":\"XHWymD0Bmz1if8BO7si1ptKYq8"
    "YtEsssGRAj54r9LCE\",\"kid\":\"p256\",\"alg\":\"ES256\",\"use\":\"sig\""
    "},{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"e4Ll0hUyuMLZOjMqpdvcj0rLve"
    "pyhvkPbEI22guEDbUGog_V9Po1Z7abgp8vSVon\",\"y\":\"agiOun13zveime9hbidKp"
    "Z3QxjeZcJowHYI3s4uPMlc9T9Cxl6j9wqZrK6Dx1aD-\",\"kid\":\"p384\"},{\"kty"
    "\":\"EC\",\"crv\":\"P-521\",\"x\":\"ASCEyRNhC8cKNMogsxGCrqjLYFsLyZkwtL"
    "TxMXtYbl4O8Tp8QrrJes2Vbm7h7nL3QBRzH5HBVlwRFNvLIE2bGo4m\",\"y\":\"ARIo_"
    "8wH97TRK7r6Q5cTo9KkjKs4JXPJUX6B76_e1DFVk8dswD0e4N5vOrJtRxZpvVgRFD37f7X"
    "PjDjMK2Divm4Z\",\"kid\":\"p521\"},{\"kty\":\"OKP\",\"crv\":\"Ed25519\""
    ",\"x\":\"twdbDSWvQcDPiqXWcJ7vWqndJZR9CyjtXHff5AiimBE\",\"kid\":\"ed\"}"
    ",{\"kty\":\"oct\",\"k\":\"Xi792hkzDrAddlcBfoC9vgGIArb_z7S6cGetYqGI7CNF"
    "HerWUa_GAkLTLoSLVgHW-6tLDGFnCK318tqkYUWBVw\",\"kid\":\"hs\"}]}"
    /* END JWKS */
    ;

static iams_jwks  *fuzz_keys;


static const iams_jwks *
fuzz_key_set(void)
{
    if (fuzz_keys == NULL
        && iams_jwks_parse(fuzz_jwks_text, sizeof(fuzz_jwks_text) - 1,
                           &fuzz_keys, NULL)
           != IAMS_OK)
    {
        /* the target is useless without its keys: stop loudly */
        abort();
    }

    return fuzz_keys;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int               ok_all, ok_asym;
    json_t           *claims;
    const char       *kid;
    iams_err          err;
    iams_jws          jws;
    const iams_jwk   *used;
    iams_jwt_policy   strict, lax;

    if (iams_jws_parse((const char *) data, size, &jws, &err) != IAMS_OK) {
        return 0;
    }

    /* the claims are examined whether or not the signature holds, as the
     * gateway never does: more code under the fuzzer for the same input */
    claims = NULL;

    if (iams_jwt_claims(&jws, &claims, &err) == IAMS_OK) {
        memset(&strict, 0, sizeof(strict));
        strict.issuer = "https://issuer.fuzz.example";
        strict.audiences = fuzz_audiences;
        strict.naudiences = sizeof(fuzz_audiences) / sizeof(fuzz_audiences[0]);
        strict.leeway = 60;

        memset(&lax, 0, sizeof(lax));

        (void) iams_jwt_check(claims, &strict, FUZZ_NOW, &err);
        (void) iams_jwt_check(claims, &lax, FUZZ_NOW, NULL);

        json_decref(claims);
    }

    /* the security rules of jose.h, checked on whatever verifies */
    used = NULL;
    ok_all = iams_jws_verify(&jws, fuzz_key_set(), IAMS_ALG_SET_ALL, &used,
                             &err)
             == IAMS_OK;

    if (ok_all) {
        kid = used != NULL ? iams_jwk_kid(used) : NULL;

        if (used == NULL
            || (jws.kid != NULL && (kid == NULL || strcmp(kid, jws.kid) != 0))
            || iams_jwk_check_alg(used, jws.alg, 0, NULL) != IAMS_OK)
        {
            abort();
        }
    }

    ok_asym = iams_jws_verify(&jws, fuzz_key_set(), IAMS_ALG_SET_ASYMMETRIC,
                              NULL, NULL)
              == IAMS_OK;

    if (ok_asym && (!ok_all || (IAMS_ALG_BIT(jws.alg) & IAMS_ALG_SET_HMAC))) {
        abort();
    }

    fuzz_resign(&jws);

    iams_jws_clear(&jws);

    return 0;
}


/*
 * What we sign we must accept: the parsed payload, signed again with the
 * oct key (the token's kid, which may hold any character, becomes "typ"),
 * must parse, verify and give back the same payload.
 */
static void
fuzz_resign(const iams_jws *jws)
{
    char            *token;
    size_t           i, len;
    iams_jws         again;
    const iams_jwk  *key, *used;

    key = NULL;

    for (i = 0; i < iams_jwks_count(fuzz_key_set()); i++) {
        if (iams_jwk_kty(iams_jwks_get(fuzz_key_set(), i)) == IAMS_KTY_OCT) {
            key = iams_jwks_get(fuzz_key_set(), i);
        }
    }

    token = NULL;

    if (iams_jws_sign(key, IAMS_ALG_HS256, NULL, jws->kid, jws->payload,
                      jws->payload_len, &token, &len, NULL)
        != IAMS_OK)
    {
        abort();
    }

    if (len <= IAMS_JWS_MAX_TOKEN) {
        if (iams_jws_parse(token, len, &again, NULL) != IAMS_OK) {
            abort();
        }

        if (iams_jws_verify(&again, fuzz_key_set(), IAMS_ALG_SET_HMAC, &used,
                            NULL)
            != IAMS_OK
            || used != key
            || again.payload_len != jws->payload_len
            || memcmp(again.payload, jws->payload, jws->payload_len) != 0)
        {
            abort();
        }

        iams_jws_clear(&again);
    }

    free(token);
}
