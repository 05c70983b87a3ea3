/*
 * libFuzzer target for consent records, as the gateway reads them back
 * from Redis, and for the terms a grant is created from.
 *
 * Whatever parses must be valid, serialize to a text that parses to the
 * same record and serializes to the same bytes, and behave: its own
 * requester, purpose and items at not_before are released exactly when it
 * is ACTIVE with uses left; an item it does not name is never released,
 * nor are its items to another requester; every transition leaves a valid
 * record.  The input is also tried as grant terms, and whatever is
 * created must round-trip the same way.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <iamsmart/consent.h>
#include <iamsmart/encoding.h>


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_round_trip(const iams_consent *c);
static void fuzz_check(const iams_consent *c);
static void fuzz_transitions(const iams_consent *c);
static void fuzz_terms(const char *buf, size_t len);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    iams_err       err;
    iams_consent  *c;

    if (iams_consent_parse((const char *) data, size, &c, &err) == IAMS_OK) {
        fuzz_round_trip(c);
        fuzz_check(c);
        fuzz_transitions(c);
        iams_consent_free(c);
    }

    fuzz_terms((const char *) data, size);

    return 0;
}


static void
fuzz_round_trip(const iams_consent *c)
{
    char          *a, *b;
    size_t         alen, blen;
    json_t        *claims;
    iams_err       err;
    iams_consent  *d;

    if (iams_consent_validate(c, &err) != IAMS_OK) {
        abort();
    }

    if (iams_consent_serialize(c, &a, &alen, &err) != IAMS_OK) {
        abort();
    }

    if (iams_consent_parse(a, alen, &d, &err) != IAMS_OK) {
        abort();
    }

    if (memcmp(c, d, sizeof(*c)) != 0) {
        abort();
    }

    if (iams_consent_serialize(d, &b, &blen, &err) != IAMS_OK
        || alen != blen || memcmp(a, b, alen) != 0)
    {
        abort();
    }

    /* the signed form never carries the citizen reference */
    claims = iams_consent_claims(c, "https://gw.example");
    if (claims == NULL || json_object_get(claims, "citizen") != NULL) {
        abort();
    }

    json_decref(claims);
    free(a);
    free(b);
    iams_consent_free(d);
}


static void
fuzz_check(const iams_consent *c)
{
    size_t               i;
    iams_span            items[IAMS_CONSENT_ITEMS_MAX + 1];
    iams_consent_query   q;
    iams_consent_reason  r;
    iams_consent_verdict v;
    int                  live;

    memset(&q, 0, sizeof(q));
    q.department.data = c->requester.department;
    q.department.len = strlen(c->requester.department);
    q.service.data = c->service;
    q.service.len = strlen(c->service);
    q.subject.data = c->requester.subject;
    q.subject.len = strlen(c->requester.subject);
    q.purpose.data = c->purpose_code;
    q.purpose.len = strlen(c->purpose_code);

    for (i = 0; i < c->nitems; i++) {
        items[i].data = c->items[i].name;
        items[i].len = strlen(c->items[i].name);
    }

    q.items = items;
    q.nitems = c->nitems;

    live = c->status == IAMS_CONSENT_STATUS_ACTIVE
           && (c->max_uses == 0 || c->use_count < c->max_uses);

    r = iams_consent_check(c, &q, c->not_before, &v);
    if ((r == IAMS_CONSENT_LIVE) != live || v.reason != r
        || memchr(v.text, '\0', sizeof(v.text)) == NULL)
    {
        abort();
    }

    /* never after the expiry */
    if (iams_consent_check(c, &q, c->expires, NULL) == IAMS_CONSENT_LIVE) {
        abort();
    }

    /* never an item the consent does not name */
    items[c->nitems].data = "residentialAddressX";
    items[c->nitems].len = sizeof("residentialAddressX") - 1;
    q.nitems = c->nitems + 1;

    if (iams_consent_check(c, &q, c->not_before, &v) == IAMS_CONSENT_LIVE
        || (live && (v.reason != IAMS_CONSENT_ITEM_NOT_COVERED
                     || v.item != c->nitems)))
    {
        abort();
    }

    /* never to another service */
    q.nitems = c->nitems;
    q.service.len--;

    if (iams_consent_check(c, &q, c->not_before, NULL)
        != IAMS_CONSENT_WRONG_REQUESTER)
    {
        abort();
    }
}


static void
fuzz_transitions(const iams_consent *c)
{
    int64_t       times[3];
    size_t        i;
    iams_err      err;
    iams_consent  copy;

    times[0] = c->not_before;
    times[1] = c->expires;
    times[2] = INT64_MAX;

    for (i = 0; i < 3; i++) {
        copy = *c;
        (void) iams_consent_pause(&copy, times[i]);
        (void) iams_consent_resume(&copy, times[i]);
        (void) iams_consent_expire(&copy, times[i]);
        (void) iams_consent_revoke(&copy, times[i]);

        if (iams_consent_validate(&copy, &err) != IAMS_OK) {
            abort();
        }

        /* final states stay final */
        if ((c->status == IAMS_CONSENT_STATUS_REVOKED
             || c->status == IAMS_CONSENT_STATUS_EXPIRED)
            && copy.status != c->status)
        {
            abort();
        }
    }
}


static void
fuzz_terms(const char *buf, size_t len)
{
    json_t        *terms;
    iams_consent  *c;

    terms = iams_json_parse_object(buf, len, IAMS_CONSENT_JSON_MAX, NULL);
    if (terms == NULL) {
        return;
    }

    if (iams_consent_create(terms, "cz_fuzz", 7, 1700000000, &c, NULL)
        == IAMS_OK)
    {
        if (c->status != IAMS_CONSENT_STATUS_ACTIVE || c->use_count != 0
            || c->created != 1700000000)
        {
            abort();
        }

        fuzz_round_trip(c);
        fuzz_check(c);
        iams_consent_free(c);
    }

    json_decref(terms);
}
