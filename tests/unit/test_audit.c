/*
 * Audit records: SHA-256 against FIPS 180-2 vectors, RFC 3339 times, the
 * exact JSON line of a release and of a denial, the Redis stream fields
 * carrying the same data, and the bounds every field is checked against.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iamsmart/audit.h>
#include <iamsmart/consent.h>

#include "support/fixtures.h"

#define T_MS        INT64_C(1700000000123)
#define T_TEXT      "2023-11-14T22:13:20.123Z"
#define REQ_ID      "8f14e45fceea167a5a36dedd4bea2543"
#define CONSENT_ID  "q6urq6urq6urq6urq6urqw"
#define SUBJECT     "td-sub_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_"

/* the released bytes and their SHA-256 (sha256sum) */
#define DATA        "{\"dataset\":\"immd.birth_record\"}"
#define DATA_SHA    "bfc28b3452192ef5da46f21861b1461030523e72bf1e8b6a53"   \
                    "98f4a25661d2a3"


/* a span, or the null span for NULL */
static iams_span
span(const char *s)
{
    static const iams_span  none = { NULL, 0 };

    return s ? iams_test_span(s) : none;
}


static void
test_audit_sha256(void **state)
{
    char  hex[IAMS_AUDIT_SHA256_HEX_LEN + 1];

    (void) state;

    /* FIPS 180-2 appendix B and the empty message */
    iams_audit_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b93"
                             "4ca495991b7852b855");

    iams_audit_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a"
                             "9cb410ff61f20015ad");

    iams_audit_sha256_hex(LIT("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlm"
                              "nomnopnopq"), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff21"
                             "67f6ecedd419db06c1");
}


static void
test_audit_time(void **state)
{
    char      out[25];
    iams_err  err;

    (void) state;

    assert_int_equal(iams_audit_time(T_MS, out, &err), IAMS_OK);
    assert_string_equal(out, T_TEXT);

    assert_int_equal(iams_audit_time(0, out, &err), IAMS_OK);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");

    assert_int_equal(iams_audit_time(INT64_C(951782400007), out, &err),
                     IAMS_OK);
    assert_string_equal(out, "2000-02-29T00:00:00.007Z");

    assert_int_equal(iams_audit_time(IAMS_AUDIT_TIME_MS_MAX, out, &err),
                     IAMS_OK);
    assert_string_equal(out, "9999-12-31T23:59:59.999Z");

    assert_int_equal(iams_audit_time(IAMS_AUDIT_TIME_MS_MAX + 1, out, &err),
                     IAMS_ERR_MALFORMED);
    assert_int_equal(iams_audit_time(-1, out, &err), IAMS_ERR_MALFORMED);
}


static iams_span  release_items[2];


static void
release_event(iams_audit_event *ev)
{
    memset(ev, 0, sizeof(*ev));

    release_items[0] = span("immd.birth_record");
    release_items[1] = span("birthDate");

    ev->time_ms = T_MS;
    ev->request_id = span(REQ_ID);
    ev->requester = span("TD");
    ev->service = span("td.idp");
    ev->source = span("ImmD");
    ev->citizen = span(SUBJECT);
    ev->consent_id = span(CONSENT_ID);
    ev->items = release_items;
    ev->nitems = 2;
    ev->outcome = IAMS_AUDIT_RELEASED;
    ev->sha256 = span(DATA_SHA);
}


static void
denial_event(iams_audit_event *ev)
{
    release_event(ev);

    ev->source = span(NULL);
    ev->nitems = 1;
    ev->outcome = IAMS_AUDIT_DENIED;
    ev->reason = span("consent revoked");
    ev->sha256 = span(NULL);
}


static void
expect_field(const iams_audit_record *rec, size_t i, const char *name,
    const char *value)
{
    assert_true(i < rec->nfields);
    assert_string_equal(rec->fields[i].name, name);
    assert_int_equal(rec->fields[i].len, strlen(value));
    assert_memory_equal(rec->fields[i].value, value, rec->fields[i].len);
}


static void
test_audit_release(void **state)
{
    char               hex[IAMS_AUDIT_SHA256_HEX_LEN + 1];
    json_t            *parsed;
    iams_err           err;
    iams_audit_event   ev;
    iams_audit_record  rec;

    (void) state;

    iams_audit_sha256_hex(LIT(DATA), hex);
    assert_string_equal(hex, DATA_SHA);

    release_event(&ev);

    if (iams_audit_build(&ev, &rec, &err) != IAMS_OK) {
        fail_msg("build: %s", err.detail);
    }

    assert_string_equal(rec.line,
        "{\"v\":1,\"time\":\"" T_TEXT "\",\"request_id\":\"" REQ_ID "\","
        "\"requester\":\"TD\",\"service\":\"td.idp\",\"source\":\"ImmD\","
        "\"citizen\":\"" SUBJECT "\",\"consent\":\"" CONSENT_ID "\","
        "\"items\":[\"immd.birth_record\",\"birthDate\"],"
        "\"outcome\":\"released\",\"reason\":null,"
        "\"sha256\":\"" DATA_SHA "\"}");
    assert_int_equal(rec.line_len, strlen(rec.line));

    /* the stream entry: the same data, nulls left out, in order */
    assert_int_equal(rec.nfields, 11);
    expect_field(&rec, 0, IAMS_AUDIT_F_VERSION, "1");
    expect_field(&rec, 1, IAMS_AUDIT_F_TIME, T_TEXT);
    expect_field(&rec, 2, IAMS_AUDIT_F_REQUEST_ID, REQ_ID);
    expect_field(&rec, 3, IAMS_AUDIT_F_REQUESTER, "TD");
    expect_field(&rec, 4, IAMS_AUDIT_F_SERVICE, "td.idp");
    expect_field(&rec, 5, IAMS_AUDIT_F_SOURCE, "ImmD");
    expect_field(&rec, 6, IAMS_AUDIT_F_CITIZEN, SUBJECT);
    expect_field(&rec, 7, IAMS_AUDIT_F_CONSENT, CONSENT_ID);
    expect_field(&rec, 8, IAMS_AUDIT_F_ITEMS,
                 "[\"immd.birth_record\",\"birthDate\"]");
    expect_field(&rec, 9, IAMS_AUDIT_F_OUTCOME, "released");
    expect_field(&rec, 10, IAMS_AUDIT_F_SHA256, DATA_SHA);

    /* the line parses back to the record object */
    parsed = json_loads(rec.line, 0, NULL);
    assert_non_null(parsed);
    assert_true(json_equal(parsed, rec.json));
    json_decref(parsed);

    iams_audit_record_clear(&rec);
    assert_null(rec.json);
    assert_null(rec.line);
    iams_audit_record_clear(&rec);
}


static void
test_audit_denial(void **state)
{
    iams_err           err;
    iams_audit_event   ev;
    iams_audit_record  rec;

    (void) state;

    denial_event(&ev);

    if (iams_audit_build(&ev, &rec, &err) != IAMS_OK) {
        fail_msg("build: %s", err.detail);
    }

    assert_string_equal(rec.line,
        "{\"v\":1,\"time\":\"" T_TEXT "\",\"request_id\":\"" REQ_ID "\","
        "\"requester\":\"TD\",\"service\":\"td.idp\",\"source\":null,"
        "\"citizen\":\"" SUBJECT "\",\"consent\":\"" CONSENT_ID "\","
        "\"items\":[\"immd.birth_record\"],"
        "\"outcome\":\"denied\",\"reason\":\"consent revoked\","
        "\"sha256\":null}");

    assert_int_equal(rec.nfields, 10);
    expect_field(&rec, 5, IAMS_AUDIT_F_CITIZEN, SUBJECT);
    expect_field(&rec, 7, IAMS_AUDIT_F_ITEMS, "[\"immd.birth_record\"]");
    expect_field(&rec, 8, IAMS_AUDIT_F_OUTCOME, "denied");
    expect_field(&rec, 9, IAMS_AUDIT_F_REASON, "consent revoked");
    iams_audit_record_clear(&rec);

    /* no consent found, nothing but the requester known */
    denial_event(&ev);
    ev.service = span(NULL);
    ev.citizen = span(NULL);
    ev.consent_id = span(NULL);
    ev.nitems = 0;
    ev.reason = span("no consent");

    assert_int_equal(iams_audit_build(&ev, &rec, &err), IAMS_OK);
    assert_string_equal(rec.line,
        "{\"v\":1,\"time\":\"" T_TEXT "\",\"request_id\":\"" REQ_ID "\","
        "\"requester\":\"TD\",\"service\":null,\"source\":null,"
        "\"citizen\":null,\"consent\":null,\"items\":[],"
        "\"outcome\":\"denied\",\"reason\":\"no consent\",\"sha256\":null}");
    assert_int_equal(rec.nfields, 7);
    expect_field(&rec, 4, IAMS_AUDIT_F_ITEMS, "[]");
    iams_audit_record_clear(&rec);

    /* the verdict text of an uncovered item is a valid reason */
    denial_event(&ev);
    ev.reason = span("item not covered: residentialAddress");
    assert_int_equal(iams_audit_build(&ev, &rec, &err), IAMS_OK);
    iams_audit_record_clear(&rec);
}


typedef void (*mutate_pt)(iams_audit_event *ev);

typedef struct {
    const char  *name;
    int          denial;     /* start from the denial, else the release */
    mutate_pt    mutate;
    const char  *detail;
} bad_event;

static iams_span  bad_items[IAMS_CONSENT_ITEMS_MAX + 1];

static void e_no_request_id(iams_audit_event *e)
{ e->request_id = span(NULL); }
static void e_request_id_space(iams_audit_event *e)
{ e->request_id = span("a b"); }
static void e_request_id_long(iams_audit_event *e)
{
    e->request_id = span("0123456789012345678901234567890123456789012345678"
                         "9012345678901234");
}
static void e_no_requester(iams_audit_event *e) { e->requester = span(NULL); }
static void e_requester_code(iams_audit_event *e)
{ e->requester = span("T1"); }
static void e_service(iams_audit_event *e) { e->service = span("td idp"); }
static void e_no_source(iams_audit_event *e) { e->source = span(NULL); }
static void e_source(iams_audit_event *e) { e->source = span("ImmD\n"); }
static void e_citizen(iams_audit_event *e) { e->citizen = span("x\"y"); }
static void e_no_consent(iams_audit_event *e) { e->consent_id = span(NULL); }
static void e_consent(iams_audit_event *e)
{ e->consent_id = span("q6urq6urq6urq6urq6urqx"); }
static void e_no_items(iams_audit_event *e) { e->nitems = 0; }
static void e_items_null(iams_audit_event *e) { e->items = NULL; }
static void e_item_name(iams_audit_event *e)
{
    bad_items[0] = span("birthDate");
    bad_items[1] = span("birth\ndate");
    e->items = bad_items;
    e->nitems = 2;
}
static void e_too_many_items(iams_audit_event *e)
{
    size_t  i;

    for (i = 0; i < IAMS_CONSENT_ITEMS_MAX + 1; i++) {
        bad_items[i] = span("birthDate");
    }

    e->items = bad_items;
    e->nitems = IAMS_CONSENT_ITEMS_MAX + 1;
}
static void e_reason_on_release(iams_audit_event *e)
{ e->reason = span("x"); }
static void e_no_sha(iams_audit_event *e) { e->sha256 = span(NULL); }
static void e_sha_upper(iams_audit_event *e)
{
    e->sha256 = span("BFC28B3452192EF5DA46F21861B1461030523E72BF1E8B6A5398F4A2"
                     "5661D2A3");
}
static void e_sha_short(iams_audit_event *e)
{ e->sha256 = span("bfc28b34"); }
static void e_no_reason(iams_audit_event *e) { e->reason = span(NULL); }
static void e_reason_newline(iams_audit_event *e)
{ e->reason = span("consent revoked\r\nX-Injected: 1"); }
static void e_reason_long(iams_audit_event *e)
{
    static char  buf[IAMS_AUDIT_REASON_MAX + 2];

    memset(buf, 'r', sizeof(buf) - 1);
    e->reason = span(buf);
}
static void e_sha_on_denial(iams_audit_event *e)
{ e->sha256 = span(DATA_SHA); }
static void e_outcome(iams_audit_event *e)
{ e->outcome = (iams_audit_outcome) 7; }
static void e_time(iams_audit_event *e) { e->time_ms = -1; }

static const bad_event  bad_events[] = {
    { "no request id", 0, e_no_request_id,
      "audit: request_id: required, 1 to 64 of [A-Za-z0-9._~:-]" },
    { "request id with a space", 0, e_request_id_space,
      "audit: request_id: required, 1 to 64 of [A-Za-z0-9._~:-]" },
    { "request id too long", 0, e_request_id_long,
      "audit: request_id: required, 1 to 64 of [A-Za-z0-9._~:-]" },
    { "no requester", 1, e_no_requester,
      "audit: requester: required, a department code" },
    { "requester code", 0, e_requester_code,
      "audit: requester: required, a department code" },
    { "service", 0, e_service,
      "audit: service: 1 to 64 of [A-Za-z0-9._~:-]" },
    { "release without source", 0, e_no_source,
      "audit: source: a department code, required for a release" },
    { "source with a newline", 1, e_source,
      "audit: source: a department code, required for a release" },
    { "citizen", 0, e_citizen,
      "audit: citizen: 1 to 128 of [A-Za-z0-9._~:-]" },
    { "release without consent", 0, e_no_consent,
      "audit: consent: a consent id, required for a release" },
    { "non-canonical consent id", 1, e_consent,
      "audit: consent: a consent id, required for a release" },
    { "release without items", 0, e_no_items,
      "audit: items: 0 to 32 items, at least 1 for a release" },
    { "items pointer", 1, e_items_null,
      "audit: items: 0 to 32 items, at least 1 for a release" },
    { "item name", 1, e_item_name,
      "audit: items[1]: not an item name" },
    { "33 items", 1, e_too_many_items,
      "audit: items: 0 to 32 items, at least 1 for a release" },
    { "reason on a release", 0, e_reason_on_release,
      "audit: reason: required for a denial (1 to 160 printable ASCII), "
      "null for a release" },
    { "release without hash", 0, e_no_sha,
      "audit: sha256: required for a release (64 lower-case hex), null for "
      "a denial" },
    { "upper-case hash", 0, e_sha_upper,
      "audit: sha256: required for a release (64 lower-case hex), null for "
      "a denial" },
    { "short hash", 0, e_sha_short,
      "audit: sha256: required for a release (64 lower-case hex), null for "
      "a denial" },
    { "denial without reason", 1, e_no_reason,
      "audit: reason: required for a denial (1 to 160 printable ASCII), "
      "null for a release" },
    { "reason with a line break", 1, e_reason_newline,
      "audit: reason: required for a denial (1 to 160 printable ASCII), "
      "null for a release" },
    { "reason too long", 1, e_reason_long,
      "audit: reason: required for a denial (1 to 160 printable ASCII), "
      "null for a release" },
    { "hash on a denial", 1, e_sha_on_denial,
      "audit: sha256: required for a release (64 lower-case hex), null for "
      "a denial" },
    { "outcome", 0, e_outcome, "audit: outcome: unknown outcome" },
    { "time", 0, e_time, "audit: time out of range" },
};


static void
test_audit_bounds(void **state)
{
    size_t             i;
    iams_err           err;
    iams_status        rc;
    iams_audit_event   ev;
    iams_audit_record  rec;

    (void) state;

    for (i = 0; i < sizeof(bad_events) / sizeof(bad_events[0]); i++) {
        if (bad_events[i].denial) {
            denial_event(&ev);
        } else {
            release_event(&ev);
        }

        bad_events[i].mutate(&ev);
        memset(&err, 0, sizeof(err));
        memset(&rec, 0x5a, sizeof(rec));

        rc = iams_audit_build(&ev, &rec, &err);

        if (rc != IAMS_ERR_MALFORMED
            || strcmp(err.detail, bad_events[i].detail) != 0)
        {
            fail_msg("%s: got %s \"%s\"", bad_events[i].name,
                     iams_status_str(rc), err.detail);
        }

        /* a failed build leaves nothing to free */
        assert_null(rec.json);
        assert_null(rec.line);
        assert_null(rec.items_text);
        assert_int_equal(rec.nfields, 0);
    }

    /* the limits themselves are accepted */
    release_event(&ev);
    ev.request_id = span("0123456789012345678901234567890123456789012345678"
                         "901234567890123");
    assert_int_equal(ev.request_id.len, IAMS_AUDIT_TOKEN_MAX);

    for (i = 0; i < IAMS_CONSENT_ITEMS_MAX; i++) {
        bad_items[i] = span("birthDate");
    }

    ev.items = bad_items;
    ev.nitems = IAMS_CONSENT_ITEMS_MAX;
    assert_int_equal(iams_audit_build(&ev, &rec, &err), IAMS_OK);
    assert_null(memchr(rec.line, '\n', rec.line_len));
    iams_audit_record_clear(&rec);

    assert_string_equal(iams_audit_outcome_name(IAMS_AUDIT_RELEASED),
                        "released");
    assert_string_equal(iams_audit_outcome_name(IAMS_AUDIT_DENIED),
                        "denied");
}


/* the reason a consent check gives becomes the denial's reason as is */
static void
test_audit_from_verdict(void **state)
{
    size_t                i;
    iams_err              err;
    iams_audit_event      ev;
    iams_audit_record     rec;
    iams_consent_verdict  v;
    iams_consent_query    q;
    iams_span             item;

    (void) state;

    memset(&q, 0, sizeof(q));
    item = span("birthDate");
    q.items = &item;
    q.nitems = 1;

    assert_int_equal(iams_consent_check(NULL, &q, 0, &v), IAMS_CONSENT_NONE);

    denial_event(&ev);
    ev.reason = span(v.text);
    assert_int_equal(iams_audit_build(&ev, &rec, &err), IAMS_OK);
    assert_string_equal(json_string_value(json_object_get(
                            rec.json, IAMS_AUDIT_F_REASON)),
                        "no consent");
    iams_audit_record_clear(&rec);

    /* every reason string fits and is printable */
    for (i = 0; i < IAMS_CONSENT_REASON_COUNT; i++) {
        denial_event(&ev);
        ev.reason = span(iams_consent_reason_str((iams_consent_reason) i));
        assert_int_equal(iams_audit_build(&ev, &rec, &err), IAMS_OK);
        iams_audit_record_clear(&rec);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_audit_sha256),
        cmocka_unit_test(test_audit_time),
        cmocka_unit_test(test_audit_release),
        cmocka_unit_test(test_audit_denial),
        cmocka_unit_test(test_audit_bounds),
        cmocka_unit_test(test_audit_from_verdict),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
