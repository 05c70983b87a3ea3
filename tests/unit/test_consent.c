/*
 * Consent artefacts: creation from terms, the strict JSON record, the state
 * machine, the live-consent check with every reason, use counting (with
 * concurrent atomic counters), and the signed artefact verified with the
 * JOSE code and the public key.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iamsmart/consent.h>
#include <iamsmart/encoding.h>
#include <iamsmart/jose.h>

#include "support/fixtures.h"
#include "support/keys.h"

#define T0        1700000000            /* grant time */
#define NBF       (T0 + 3600)
#define EXP       (T0 + 90 * 86400)
#define CITIZEN   "cz_4hY2kP9qLm3Nx7Rt0Vw1"
#define SUB_TD    "td-sub_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_"
#define SUB_IMMD  "immd-sub_0123456789abcdefghijklmnopqrstuvwxyz"
#define SUB_RVD   "rvd-sub_ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210"
#define PURPOSE   "idp-application"

/* a stored record, as Python writes it with json.dumps(sort_keys=True,
 * separators=(",", ":"), ensure_ascii=False): the canonical text */
#define RECORD                                                               \
    "{\"citizen\":\"cz_4hY2kP9qLm3Nx7Rt0Vw1\",\"created\":1700000000,"       \
    "\"data_life\":2592000,\"expires\":1707776000,"                          \
    "\"frequency\":{\"max\":2,\"period\":86400},"                            \
    "\"id\":\"q6urq6urq6urq6urq6urqw\",\"last_used\":0,\"max_uses\":3,"      \
    "\"not_before\":1700003600,\"purpose\":{\"code\":\"idp-application\","   \
    "\"text\":{\"en\":\"Apply for an International Driving Permit\","        \
    "\"zh-HK\":\"申請國際駕駛許可證\"}},"                                    \
    "\"requester\":{\"department\":\"TD\",\"service\":\"td.idp\","           \
    "\"subject\":\"" SUB_TD "\"},"                                           \
    "\"sources\":[{\"department\":\"ImmD\","                                 \
    "\"items\":[\"immd.birth_record\",\"birthDate\"],"                       \
    "\"subject\":\"" SUB_IMMD "\"},"                                         \
    "{\"department\":\"RVD\",\"items\":[\"rvd.rates_account\"],"             \
    "\"subject\":\"" SUB_RVD "\"}],"                                         \
    "\"status\":\"ACTIVE\",\"status_changed\":1700000000,\"use_count\":0,"   \
    "\"v\":1}"


/* a span, or the null span for NULL */
static iams_span
span(const char *s)
{
    static const iams_span  none = { NULL, 0 };

    return s ? iams_test_span(s) : none;
}


/* TD's International Driving Permit service asks ImmD for a birth record
 * and the birth date, and RVD for the rates account */
static json_t *
terms_json(void)
{
    json_t  *t;

    t = json_pack("{s:{s:s, s:s, s:s},"
                  " s:[{s:s, s:s, s:[s, s]}, {s:s, s:s, s:[s]}],"
                  " s:{s:s, s:{s:s, s:s}},"
                  " s:I, s:I, s:i, s:{s:i, s:i}, s:i}",
                  "requester", "department", "TD", "service", "td.idp",
                      "subject", SUB_TD,
                  "sources",
                      "department", "ImmD", "subject", SUB_IMMD,
                      "items", "immd.birth_record", "birthDate",
                      "department", "RVD", "subject", SUB_RVD,
                      "items", "rvd.rates_account",
                  "purpose", "code", PURPOSE,
                      "text", "en", "Apply for an International Driving "
                                    "Permit",
                      "zh-HK", "申請國際駕駛許可證",
                  "not_before", (json_int_t) NBF,
                  "expires", (json_int_t) EXP,
                  "max_uses", 3,
                  "frequency", "max", 2, "period", 86400,
                  "data_life", 30 * 86400);

    assert_non_null(t);

    return t;
}


static iams_consent *
create_from(json_t *terms, int64_t now)
{
    iams_err       err;
    iams_consent  *c;

    if (iams_consent_create(terms, LIT(CITIZEN), now, &c, &err) != IAMS_OK) {
        fail_msg("create: %s", err.detail);
    }

    json_decref(terms);

    return c;
}


static iams_consent *
new_consent(void)
{
    return create_from(terms_json(), T0);
}


static char *
serialize(const iams_consent *c, size_t *len)
{
    char      *text;
    iams_err   err;

    if (iams_consent_serialize(c, &text, len, &err) != IAMS_OK) {
        fail_msg("serialize: %s", err.detail);
    }

    return text;
}


static void
test_consent_create(void **state)
{
    iams_err       err;
    json_t        *t;
    iams_consent  *c, *d;

    (void) state;

    c = new_consent();

    assert_true(iams_consent_id_ok(c->id, strlen(c->id)));
    assert_string_equal(c->citizen, CITIZEN);
    assert_string_equal(c->requester.department, "TD");
    assert_string_equal(c->requester.subject, SUB_TD);
    assert_string_equal(c->service, "td.idp");
    assert_int_equal(c->nsources, 2);
    assert_string_equal(c->sources[0].department, "ImmD");
    assert_string_equal(c->sources[1].subject, SUB_RVD);
    assert_int_equal(c->nitems, 3);
    assert_string_equal(c->items[0].name, "immd.birth_record");
    assert_int_equal(c->items[0].source, 0);
    assert_string_equal(c->items[1].name, "birthDate");
    assert_int_equal(c->items[1].source, 0);
    assert_string_equal(c->items[2].name, "rvd.rates_account");
    assert_int_equal(c->items[2].source, 1);
    assert_string_equal(c->purpose_code, PURPOSE);
    assert_string_equal(c->purpose_zh, "申請國際駕駛許可證");
    assert_int_equal(c->created, T0);
    assert_int_equal(c->not_before, NBF);
    assert_int_equal(c->expires, EXP);
    assert_int_equal(c->max_uses, 3);
    assert_int_equal(c->freq_max, 2);
    assert_int_equal(c->freq_period, 86400);
    assert_int_equal(c->data_life, 30 * 86400);
    assert_int_equal(c->status, IAMS_CONSENT_STATUS_ACTIVE);
    assert_int_equal(c->status_changed, T0);
    assert_int_equal(c->use_count, 0);
    assert_int_equal(c->last_used, 0);

    /* two grants never share an id */
    d = new_consent();
    assert_string_not_equal(c->id, d->id);
    iams_consent_free(d);

    /* a not_before in the past starts the consent at the grant */
    t = terms_json();
    json_object_set_new(t, "not_before", json_integer(T0 - 100));
    d = create_from(t, T0);
    assert_int_equal(d->not_before, T0);
    iams_consent_free(d);

    /* without not_before or frequency */
    t = terms_json();
    json_object_del(t, "not_before");
    json_object_del(t, "frequency");
    d = create_from(t, T0);
    assert_int_equal(d->not_before, T0);
    assert_int_equal(d->freq_max, 0);
    assert_int_equal(d->freq_period, 0);
    iams_consent_free(d);

    /* the requester cannot choose what the gateway sets */
    t = terms_json();
    json_object_set_new(t, "status", json_string("ACTIVE"));
    assert_int_equal(iams_consent_create(t, LIT(CITIZEN), T0, &d, &err),
                     IAMS_ERR_MALFORMED);
    assert_null(d);
    assert_string_equal(err.detail,
                        "consent: terms: unexpected member \"status\"");

    json_object_del(t, "status");
    json_object_set_new(t, "use_count", json_integer(0));
    assert_int_equal(iams_consent_create(t, LIT(CITIZEN), T0, &d, &err),
                     IAMS_ERR_MALFORMED);
    json_decref(t);

    /* the citizen reference is checked */
    t = terms_json();
    assert_int_equal(iams_consent_create(t, LIT("open id"), T0, &d, &err),
                     IAMS_ERR_MALFORMED);
    assert_non_null(strstr(err.detail, "citizen"));
    assert_int_equal(iams_consent_create(t, "", 0, T0, &d, &err),
                     IAMS_ERR_MALFORMED);
    json_decref(t);

    iams_consent_free(c);
}


static void
test_consent_round_trip(void **state)
{
    char          *a, *b;
    size_t         alen, blen;
    iams_err       err;
    iams_consent  *c, *d;

    (void) state;

    c = new_consent();
    assert_int_equal(iams_consent_pause(c, T0 + 10), IAMS_CONSENT_TX_OK);
    iams_consent_set_usage(c, 2, NBF + 5);

    a = serialize(c, &alen);

    /* compact with sorted keys */
    assert_memory_equal(a, "{\"citizen\":\"" CITIZEN "\",\"created\":",
                        sizeof("{\"citizen\":\"" CITIZEN "\",\"created\":")
                        - 1);
    assert_null(strchr(a, '\n'));
    assert_null(strstr(a, ": "));

    if (iams_consent_parse(a, alen, &d, &err) != IAMS_OK) {
        fail_msg("parse: %s", err.detail);
    }

    assert_memory_equal(c, d, sizeof(*c));

    b = serialize(d, &blen);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, alen);

    free(a);
    free(b);
    iams_consent_free(c);
    iams_consent_free(d);

    /* a consent without a frequency limit has no "frequency" member */
    c = create_from(json_pack("{s:{s:s, s:s, s:s}, s:[{s:s, s:s, s:[s]}],"
                              " s:{s:s, s:{s:s, s:s}}, s:I, s:i, s:i}",
                              "requester", "department", "LCSD",
                                  "service", "lcsd.leisurelink",
                                  "subject", "s1",
                              "sources", "department", "LCSD",
                                  "subject", "s1", "items", "mobileNumber",
                              "purpose", "code", "booking",
                                  "text", "en", "Facility booking",
                                  "zh-HK", "康體設施訂場",
                              "expires", (json_int_t) EXP,
                              "max_uses", 0, "data_life", 0),
                    T0);
    a = serialize(c, &alen);
    assert_null(strstr(a, "frequency"));

    assert_int_equal(iams_consent_parse(a, alen, &d, &err), IAMS_OK);
    assert_memory_equal(c, d, sizeof(*c));

    free(a);
    iams_consent_free(c);
    iams_consent_free(d);

    /* a record written elsewhere reads back to the same text */
    assert_int_equal(iams_consent_parse(LIT(RECORD), &c, &err), IAMS_OK);
    assert_string_equal(c->id, "q6urq6urq6urq6urq6urqw");
    assert_int_equal(c->not_before, NBF);
    assert_int_equal(c->expires, EXP);
    a = serialize(c, &alen);
    assert_string_equal(a, RECORD);
    free(a);
    iams_consent_free(c);
}


/* ---- malformed records ---- */

typedef void (*mutate_pt)(json_t *rec);

typedef struct {
    const char   *name;
    mutate_pt     mutate;
    iams_status   status;
    const char   *detail;     /* exact */
} bad_record;


static json_t *
src(json_t *rec, size_t i)
{
    return json_array_get(json_object_get(rec, "sources"), i);
}


static json_t *
src_items(json_t *rec, size_t i)
{
    return json_object_get(src(rec, i), "items");
}


static json_t *
text(json_t *rec)
{
    return json_object_get(json_object_get(rec, "purpose"), "text");
}

#define SET(obj, key, value)  json_object_set_new(obj, key, value)

static void m_version(json_t *r) { SET(r, "v", json_integer(2)); }
static void m_extra(json_t *r) { SET(r, "note", json_string("x")); }
static void m_no_id(json_t *r) { json_object_del(r, "id"); }
static void m_id_short(json_t *r)
{ SET(r, "id", json_string("AAAAAAAAAAAAAAAAAAAAA")); }
static void m_id_noncanonical(json_t *r)
{ SET(r, "id", json_string("AAAAAAAAAAAAAAAAAAAAAB")); }
static void m_citizen_space(json_t *r)
{ SET(r, "citizen", json_string("open id")); }
static void m_citizen_long(json_t *r)
{
    char  buf[IAMS_CONSENT_REF_MAX + 2];

    memset(buf, 'a', sizeof(buf) - 1);
    buf[sizeof(buf) - 1] = '\0';
    SET(r, "citizen", json_string(buf));
}
static void m_requester_dept(json_t *r)
{ SET(json_object_get(r, "requester"), "department", json_string("T")); }
static void m_requester_dept_digit(json_t *r)
{ SET(json_object_get(r, "requester"), "department", json_string("TD2")); }
static void m_requester_service(json_t *r)
{ SET(json_object_get(r, "requester"), "service", json_string("immd.x")); }
static void m_requester_extra(json_t *r)
{ SET(json_object_get(r, "requester"), "role", json_string("x")); }
static void m_requester_missing(json_t *r)
{ json_object_del(r, "requester"); }
static void m_sources_empty(json_t *r) { SET(r, "sources", json_array()); }
static void m_sources_17(json_t *r)
{
    size_t   i;
    json_t  *arr;
    char     dept[4];

    arr = json_array();

    for (i = 0; i < 17; i++) {
        snprintf(dept, sizeof(dept), "D%c", (char) ('A' + i));
        json_array_append_new(arr, json_pack("{s:s, s:s, s:[s]}",
                                             "department", dept,
                                             "subject", "s",
                                             "items", "birthDate"));
    }

    SET(r, "sources", arr);
}
static void m_items_33(json_t *r)
{
    size_t   i;
    char     name[32];
    json_t  *items;

    items = src_items(r, 1);

    for (i = 0; i < 31; i++) {
        snprintf(name, sizeof(name), "rvd.set_%zu", i);
        json_array_append_new(items, json_string(name));
    }
}
static void m_item_other_dept(json_t *r)
{ json_array_set_new(src_items(r, 0), 1, json_string("td.driving_licence")); }
static void m_item_garbage(json_t *r)
{ json_array_set_new(src_items(r, 0), 1, json_string("Birth Date")); }
static void m_item_case(json_t *r)
{ json_array_set_new(src_items(r, 0), 1, json_string("birthdate")); }
static void m_item_not_string(json_t *r)
{ json_array_set_new(src_items(r, 1), 0, json_integer(7)); }
static void m_item_dup(json_t *r)
{ json_array_append_new(src_items(r, 1), json_string("birthDate")); }
static void m_item_long(json_t *r)
{
    char  buf[IAMS_CONSENT_ITEM_MAX + 2];

    memset(buf, 'a', sizeof(buf) - 1);
    memcpy(buf, "rvd.", 4);
    buf[sizeof(buf) - 1] = '\0';
    json_array_set_new(src_items(r, 1), 0, json_string(buf));
}
static void m_source_dup(json_t *r)
{ SET(src(r, 1), "department", json_string("IMMD")); }
static void m_source_no_items(json_t *r)
{ SET(src(r, 1), "items", json_array()); }
static void m_source_subject(json_t *r)
{ SET(src(r, 0), "subject", json_string("a/b")); }
static void m_purpose_code(json_t *r)
{ SET(json_object_get(r, "purpose"), "code", json_string("idp app")); }
static void m_text_bidi(json_t *r)
{ SET(text(r), "en", json_string("Apply \xe2\x80\xae" "txet")); }
static void m_text_isolate(json_t *r)
{ SET(text(r), "zh-HK", json_string("\xe2\x81\xa6" "申請")); }
static void m_text_control(json_t *r)
{ SET(text(r), "en", json_string("Apply\nnow")); }
static void m_text_c1(json_t *r)
{ SET(text(r), "en", json_string("Apply \xc2\x85")); }
static void m_text_empty(json_t *r)
{ SET(text(r), "en", json_string("")); }
static void m_text_long(json_t *r)
{
    char  buf[IAMS_CONSENT_PURPOSE_TEXT_MAX + 2];

    memset(buf, 'a', sizeof(buf) - 1);
    buf[sizeof(buf) - 1] = '\0';
    SET(text(r), "en", json_string(buf));
}
static void m_text_missing_zh(json_t *r) { json_object_del(text(r), "zh-HK"); }
static void m_text_other_lang(json_t *r)
{ SET(text(r), "zh-CN", json_string("申请")); }
static void m_nbf_before_created(json_t *r)
{ SET(r, "not_before", json_integer(T0 - 1)); }
static void m_exp_at_nbf(json_t *r) { SET(r, "expires", json_integer(NBF)); }
static void m_exp_too_far(json_t *r)
{ SET(r, "expires", json_integer(T0 + IAMS_CONSENT_LIFETIME_MAX + 1)); }
static void m_created_negative(json_t *r)
{ SET(r, "created", json_integer(-1)); }
static void m_created_float(json_t *r)
{ SET(r, "created", json_real(1700000000.5)); }
static void m_expires_string(json_t *r)
{ SET(r, "expires", json_string("1800000000")); }
static void m_status_lower(json_t *r)
{ SET(r, "status", json_string("active")); }
static void m_status_changed_early(json_t *r)
{ SET(r, "status_changed", json_integer(T0 - 1)); }
static void m_use_count_over(json_t *r)
{ SET(r, "use_count", json_integer(4)); }
static void m_last_used_early(json_t *r)
{ SET(r, "last_used", json_integer(T0 - 1)); }
static void m_max_uses_huge(json_t *r)
{ SET(r, "max_uses", json_integer(IAMS_CONSENT_USES_MAX + 1)); }
static void m_freq_zero(json_t *r)
{ SET(json_object_get(r, "frequency"), "max", json_integer(0)); }
static void m_freq_period(json_t *r)
{ SET(json_object_get(r, "frequency"), "period", json_integer(59)); }
static void m_freq_extra(json_t *r)
{ SET(json_object_get(r, "frequency"), "unit", json_string("day")); }
static void m_data_life(json_t *r)
{ SET(r, "data_life", json_integer(IAMS_CONSENT_DATA_LIFE_MAX + 1)); }
static void m_data_life_missing(json_t *r) { json_object_del(r, "data_life"); }

static const bad_record  bad_records[] = {
    { "version", m_version, IAMS_ERR_MALFORMED,
      "consent: v: unsupported version" },
    { "unknown member", m_extra, IAMS_ERR_MALFORMED,
      "consent: record: unexpected member \"note\"" },
    { "no id", m_no_id, IAMS_ERR_MALFORMED,
      "consent: id: missing or not a string" },
    { "short id", m_id_short, IAMS_ERR_MALFORMED,
      "consent: id: must be 22 base64url characters encoding 16 bytes" },
    { "non-canonical id", m_id_noncanonical, IAMS_ERR_MALFORMED,
      "consent: id: must be 22 base64url characters encoding 16 bytes" },
    { "citizen with a space", m_citizen_space, IAMS_ERR_MALFORMED,
      "consent: citizen: must be 1 to 128 characters of [A-Za-z0-9._~:-]" },
    { "citizen too long", m_citizen_long, IAMS_ERR_MALFORMED,
      "consent: citizen: too long" },
    { "requester department", m_requester_dept, IAMS_ERR_MALFORMED,
      "consent: requester.department: must be 2 to 8 letters" },
    { "requester department digit", m_requester_dept_digit,
      IAMS_ERR_MALFORMED,
      "consent: requester.department: must be 2 to 8 letters" },
    { "service of another department", m_requester_service,
      IAMS_ERR_MALFORMED,
      "consent: requester.service: must be a \"<dept>.<name>\" id of the "
      "requesting department" },
    { "requester member", m_requester_extra, IAMS_ERR_MALFORMED,
      "consent: requester: unexpected member \"role\"" },
    { "no requester", m_requester_missing, IAMS_ERR_MALFORMED,
      "consent: requester: missing or not an object" },
    { "no sources", m_sources_empty, IAMS_ERR_MALFORMED,
      "consent: sources: must hold 1 to 16 sources" },
    { "17 sources", m_sources_17, IAMS_ERR_MALFORMED,
      "consent: sources: must hold 1 to 16 sources" },
    { "33 items", m_items_33, IAMS_ERR_MALFORMED,
      "consent: sources[1].items[30]: more than 32 items in all" },
    { "item of another department", m_item_other_dept, IAMS_ERR_MALFORMED,
      "consent: sources[0].items[1]: a data set of another department" },
    { "item name", m_item_garbage, IAMS_ERR_MALFORMED,
      "consent: sources[0].items[1]: neither a profile or e-ME field name "
      "nor a \"<dept>.<dataset>\"" },
    { "item name case", m_item_case, IAMS_ERR_MALFORMED,
      "consent: sources[0].items[1]: neither a profile or e-ME field name "
      "nor a \"<dept>.<dataset>\"" },
    { "item not a string", m_item_not_string, IAMS_ERR_MALFORMED,
      "consent: sources[1].items[0]: not a string" },
    { "item twice", m_item_dup, IAMS_ERR_MALFORMED,
      "consent: sources[1].items[1]: item listed twice" },
    { "item too long", m_item_long, IAMS_ERR_MALFORMED,
      "consent: sources[1].items[0]: too long" },
    { "source twice", m_source_dup, IAMS_ERR_MALFORMED,
      "consent: sources[1]: department listed twice" },
    { "source without items", m_source_no_items, IAMS_ERR_MALFORMED,
      "consent: sources[1].items: must name 1 or more items" },
    { "source subject", m_source_subject, IAMS_ERR_MALFORMED,
      "consent: sources[0].subject: must be 1 to 128 characters of "
      "[A-Za-z0-9._~:-]" },
    { "purpose code", m_purpose_code, IAMS_ERR_MALFORMED,
      "consent: purpose.code: must be 1 to 64 characters of "
      "[A-Za-z0-9._-]" },
    { "bidi override", m_text_bidi, IAMS_ERR_MALFORMED,
      "consent: purpose.text.en: must be 1 to 1024 bytes of UTF-8 without "
      "control or bidirectional formatting characters" },
    { "bidi isolate", m_text_isolate, IAMS_ERR_MALFORMED,
      "consent: purpose.text.zh-HK: must be 1 to 1024 bytes of UTF-8 "
      "without control or bidirectional formatting characters" },
    { "control character", m_text_control, IAMS_ERR_MALFORMED,
      "consent: purpose.text.en: must be 1 to 1024 bytes of UTF-8 without "
      "control or bidirectional formatting characters" },
    { "C1 control", m_text_c1, IAMS_ERR_MALFORMED,
      "consent: purpose.text.en: must be 1 to 1024 bytes of UTF-8 without "
      "control or bidirectional formatting characters" },
    { "empty text", m_text_empty, IAMS_ERR_MALFORMED,
      "consent: purpose.text.en: must be 1 to 1024 bytes of UTF-8 without "
      "control or bidirectional formatting characters" },
    { "text too long", m_text_long, IAMS_ERR_MALFORMED,
      "consent: purpose.text.en: too long" },
    { "no Chinese text", m_text_missing_zh, IAMS_ERR_MALFORMED,
      "consent: purpose.text.zh-HK: missing or not a string" },
    { "other language", m_text_other_lang, IAMS_ERR_MALFORMED,
      "consent: purpose.text: unexpected member \"zh-CN\"" },
    { "not_before before created", m_nbf_before_created, IAMS_ERR_MALFORMED,
      "consent: not_before: must be from created to 366 days later" },
    { "expires at not_before", m_exp_at_nbf, IAMS_ERR_MALFORMED,
      "consent: expires: must be after not_before and at most 5 years after "
      "created" },
    { "expires too far", m_exp_too_far, IAMS_ERR_MALFORMED,
      "consent: expires: must be after not_before and at most 5 years after "
      "created" },
    { "negative time", m_created_negative, IAMS_ERR_MALFORMED,
      "consent: created: out of range" },
    { "fractional time", m_created_float, IAMS_ERR_MALFORMED,
      "consent: created: missing or not an integer" },
    { "time as a string", m_expires_string, IAMS_ERR_MALFORMED,
      "consent: expires: missing or not an integer" },
    { "status in lower case", m_status_lower, IAMS_ERR_MALFORMED,
      "consent: status: not ACTIVE, PAUSED, REVOKED or EXPIRED" },
    { "status changed before created", m_status_changed_early,
      IAMS_ERR_MALFORMED,
      "consent: status_changed: must not be before created" },
    { "use count above the limit", m_use_count_over, IAMS_ERR_MALFORMED,
      "consent: use_count: negative or above max_uses" },
    { "last use before created", m_last_used_early, IAMS_ERR_MALFORMED,
      "consent: last_used: must be 0 or not before created" },
    { "max_uses", m_max_uses_huge, IAMS_ERR_MALFORMED,
      "consent: max_uses: out of range" },
    { "frequency max 0", m_freq_zero, IAMS_ERR_MALFORMED,
      "consent: frequency.max: must be at least 1 (leave \"frequency\" out "
      "for no limit)" },
    { "frequency period", m_freq_period, IAMS_ERR_MALFORMED,
      "consent: frequency: max must be 1 to 1000000 and period 60 s to 366 "
      "days" },
    { "frequency member", m_freq_extra, IAMS_ERR_MALFORMED,
      "consent: frequency: unexpected member \"unit\"" },
    { "data_life", m_data_life, IAMS_ERR_MALFORMED,
      "consent: data_life: out of range" },
    { "no data_life", m_data_life_missing, IAMS_ERR_MALFORMED,
      "consent: data_life: missing or not an integer" },
};


static void
test_consent_malformed(void **state)
{
    char          *s;
    size_t         i, len;
    json_t        *rec;
    iams_err       err;
    iams_status    rc;
    iams_consent  *c, *d;

    (void) state;

    c = new_consent();

    for (i = 0; i < sizeof(bad_records) / sizeof(bad_records[0]); i++) {
        rec = iams_consent_to_json(c);
        assert_non_null(rec);
        bad_records[i].mutate(rec);
        s = iams_test_dump(rec, &len);
        json_decref(rec);

        memset(&err, 0, sizeof(err));
        d = (iams_consent *) &d;
        rc = iams_consent_parse(s, len, &d, &err);

        if (rc != bad_records[i].status
            || strcmp(err.detail, bad_records[i].detail) != 0)
        {
            fail_msg("%s: got %s \"%s\"", bad_records[i].name,
                     iams_status_str(rc), err.detail);
        }

        assert_null(d);
        free(s);
    }

    iams_consent_free(c);
}


static void
test_consent_malformed_json(void **state)
{
    char          *s, *big;
    size_t         len;
    iams_err       err;
    iams_consent  *c, *d;

    (void) state;

    assert_int_equal(iams_consent_parse(LIT("not json"), &d, &err),
                     IAMS_ERR_JSON);
    assert_null(d);
    assert_int_equal(iams_consent_parse(LIT("[1,2]"), &d, &err),
                     IAMS_ERR_JSON);
    assert_int_equal(iams_consent_parse(LIT("{\"v\":1,\"v\":1}"), &d, &err),
                     IAMS_ERR_JSON);
    assert_int_equal(iams_consent_parse("", 0, &d, &err), IAMS_ERR_JSON);

    /* trailing data after a valid record */
    c = new_consent();
    s = serialize(c, &len);
    big = malloc(len + 3);
    memcpy(big, s, len);
    memcpy(big + len, " {}", 3);
    assert_int_equal(iams_consent_parse(big, len + 3, &d, &err),
                     IAMS_ERR_JSON);
    free(big);

    /* the size bound comes before any parsing */
    big = malloc(IAMS_CONSENT_JSON_MAX + 1);
    memset(big, ' ', IAMS_CONSENT_JSON_MAX + 1);
    memcpy(big, s, len);
    assert_int_equal(iams_consent_parse(big, IAMS_CONSENT_JSON_MAX + 1, &d,
                                        &err),
                     IAMS_ERR_TOO_LARGE);
    assert_null(d);

    /* padding up to the bound is still one record */
    assert_int_equal(iams_consent_parse(big, IAMS_CONSENT_JSON_MAX, &d, &err),
                     IAMS_OK);
    iams_consent_free(d);

    free(big);
    free(s);
    iams_consent_free(c);
}


static void
test_consent_validate_struct(void **state)
{
    iams_err       err;
    iams_consent   copy;
    iams_consent  *c;

    (void) state;

    c = new_consent();
    assert_int_equal(iams_consent_validate(c, &err), IAMS_OK);

    /* a string that fills its array without a NUL */
    copy = *c;
    memset(copy.requester.department, 'A', sizeof(copy.requester.department));
    assert_int_equal(iams_consent_validate(&copy, &err), IAMS_ERR_MALFORMED);
    assert_string_equal(err.detail,
                        "consent: requester.department: must be 2 to 8 "
                        "letters");

    /* items not grouped by source */
    copy = *c;
    memcpy(&copy.items[0], &c->items[1], sizeof(copy.items[0]));
    memcpy(&copy.items[1], &c->items[0], sizeof(copy.items[0]));
    copy.items[0].source = 1;
    assert_int_equal(iams_consent_validate(&copy, &err), IAMS_ERR_MALFORMED);
    assert_string_equal(err.detail,
                        "consent: items[1]: not grouped by an existing "
                        "source");

    copy = *c;
    copy.items[2].source = 5;
    assert_int_equal(iams_consent_validate(&copy, &err), IAMS_ERR_MALFORMED);

    copy = *c;
    copy.status = (iams_consent_status) 9;
    assert_int_equal(iams_consent_validate(&copy, &err), IAMS_ERR_MALFORMED);
    assert_string_equal(err.detail, "consent: status: unknown status");

    copy = *c;
    copy.nitems = IAMS_CONSENT_ITEMS_MAX + 1;
    assert_int_equal(iams_consent_validate(&copy, &err), IAMS_ERR_MALFORMED);

    iams_consent_free(c);
}


/* ---- states ---- */

static void
test_consent_transitions(void **state)
{
    iams_consent  *c;

    (void) state;

    c = new_consent();

    /* ACTIVE: resume and expire are illegal, pause is legal */
    assert_int_equal(iams_consent_resume(c, T0 + 1),
                     IAMS_CONSENT_TX_NOT_PAUSED);
    assert_int_equal(iams_consent_expire(c, EXP - 1),
                     IAMS_CONSENT_TX_NOT_DUE);
    assert_int_equal(c->status, IAMS_CONSENT_STATUS_ACTIVE);
    assert_int_equal(c->status_changed, T0);

    assert_int_equal(iams_consent_pause(c, T0 + 100), IAMS_CONSENT_TX_OK);
    assert_int_equal(c->status, IAMS_CONSENT_STATUS_PAUSED);
    assert_int_equal(c->status_changed, T0 + 100);

    /* PAUSED: pause again is illegal, resume is legal */
    assert_int_equal(iams_consent_pause(c, T0 + 200),
                     IAMS_CONSENT_TX_NOT_ACTIVE);
    assert_int_equal(c->status_changed, T0 + 100);
    assert_int_equal(iams_consent_resume(c, T0 + 300), IAMS_CONSENT_TX_OK);
    assert_int_equal(c->status, IAMS_CONSENT_STATUS_ACTIVE);
    assert_int_equal(c->status_changed, T0 + 300);

    /* status_changed never moves backwards (clock skew between hosts) */
    assert_int_equal(iams_consent_pause(c, T0 + 250), IAMS_CONSENT_TX_OK);
    assert_int_equal(c->status_changed, T0 + 300);

    /* no resume, no pause at or after the expiry */
    assert_int_equal(iams_consent_resume(c, EXP), IAMS_CONSENT_TX_EXPIRED);
    assert_int_equal(c->status, IAMS_CONSENT_STATUS_PAUSED);
    assert_int_equal(iams_consent_resume(c, EXP - 1), IAMS_CONSENT_TX_OK);
    assert_int_equal(iams_consent_pause(c, EXP), IAMS_CONSENT_TX_EXPIRED);
    assert_int_equal(c->status, IAMS_CONSENT_STATUS_ACTIVE);

    /* REVOKED is final */
    assert_int_equal(iams_consent_revoke(c, T0 + 400), IAMS_CONSENT_TX_OK);
    assert_int_equal(c->status, IAMS_CONSENT_STATUS_REVOKED);
    assert_int_equal(iams_consent_resume(c, T0 + 500),
                     IAMS_CONSENT_TX_REVOKED);
    assert_int_equal(iams_consent_pause(c, T0 + 500),
                     IAMS_CONSENT_TX_REVOKED);
    assert_int_equal(iams_consent_revoke(c, T0 + 500),
                     IAMS_CONSENT_TX_REVOKED);
    assert_int_equal(iams_consent_expire(c, EXP), IAMS_CONSENT_TX_REVOKED);
    assert_int_equal(c->status, IAMS_CONSENT_STATUS_REVOKED);
    assert_int_equal(c->status_changed, EXP - 1);     /* the resume's */
    iams_consent_free(c);

    /* a paused consent can be revoked, and expires */
    c = new_consent();
    assert_int_equal(iams_consent_pause(c, T0 + 1), IAMS_CONSENT_TX_OK);
    assert_int_equal(iams_consent_expire(c, EXP - 1),
                     IAMS_CONSENT_TX_NOT_DUE);
    assert_int_equal(iams_consent_expire(c, EXP), IAMS_CONSENT_TX_OK);
    assert_int_equal(c->status, IAMS_CONSENT_STATUS_EXPIRED);
    assert_int_equal(c->status_changed, EXP);

    /* EXPIRED is final */
    assert_int_equal(iams_consent_resume(c, EXP + 1),
                     IAMS_CONSENT_TX_EXPIRED);
    assert_int_equal(iams_consent_pause(c, EXP + 1),
                     IAMS_CONSENT_TX_EXPIRED);
    assert_int_equal(iams_consent_revoke(c, EXP + 1),
                     IAMS_CONSENT_TX_EXPIRED);
    assert_int_equal(iams_consent_expire(c, EXP + 1),
                     IAMS_CONSENT_TX_EXPIRED);
    assert_int_equal(c->status, IAMS_CONSENT_STATUS_EXPIRED);
    iams_consent_free(c);

    /* revocation works from PAUSED and even past the expiry */
    c = new_consent();
    assert_int_equal(iams_consent_pause(c, T0 + 1), IAMS_CONSENT_TX_OK);
    assert_int_equal(iams_consent_revoke(c, T0 + 2), IAMS_CONSENT_TX_OK);
    iams_consent_free(c);

    c = new_consent();
    assert_int_equal(iams_consent_revoke(c, EXP + 10), IAMS_CONSENT_TX_OK);
    assert_int_equal(c->status, IAMS_CONSENT_STATUS_REVOKED);
    iams_consent_free(c);

    assert_string_equal(iams_consent_tx_str(IAMS_CONSENT_TX_NOT_PAUSED),
                        "consent not paused");
    assert_string_equal(iams_consent_tx_str(IAMS_CONSENT_TX_REVOKED),
                        "consent revoked");
    assert_string_equal(iams_consent_status_name(IAMS_CONSENT_STATUS_PAUSED),
                        "PAUSED");
    assert_string_equal(iams_consent_status_name((iams_consent_status) 7),
                        "UNKNOWN");
}


static void
test_consent_effective_status(void **state)
{
    iams_consent  *c;

    (void) state;

    c = new_consent();

    assert_int_equal(iams_consent_effective_status(c, EXP - 1),
                     IAMS_CONSENT_STATUS_ACTIVE);
    assert_int_equal(iams_consent_effective_status(c, EXP),
                     IAMS_CONSENT_STATUS_EXPIRED);

    assert_int_equal(iams_consent_pause(c, T0 + 1), IAMS_CONSENT_TX_OK);
    assert_int_equal(iams_consent_effective_status(c, EXP - 1),
                     IAMS_CONSENT_STATUS_PAUSED);
    assert_int_equal(iams_consent_effective_status(c, EXP),
                     IAMS_CONSENT_STATUS_EXPIRED);

    assert_int_equal(iams_consent_revoke(c, T0 + 2), IAMS_CONSENT_TX_OK);
    assert_int_equal(iams_consent_effective_status(c, EXP + 1),
                     IAMS_CONSENT_STATUS_REVOKED);

    iams_consent_free(c);
}


/* ---- the check ---- */

typedef struct {
    iams_span           items[4];
    iams_consent_query  q;
} query;


static void
query_init(query *qu, const char *dept, const char *service,
    const char *purpose, const char *item0, const char *item1)
{
    memset(qu, 0, sizeof(*qu));

    qu->q.department = span(dept);
    qu->q.service = span(service);
    qu->q.purpose = span(purpose);
    qu->items[0] = span(item0);
    qu->items[1] = span(item1);
    qu->q.items = qu->items;
    qu->q.nitems = item1 ? 2 : item0 ? 1 : 0;
}


static void
expect(const iams_consent *c, const query *qu, int64_t now,
    iams_consent_reason reason, const char *text)
{
    iams_consent_verdict  v;

    memset(&v, 0x5a, sizeof(v));

    assert_int_equal(iams_consent_check(c, &qu->q, now, &v), reason);
    assert_int_equal(v.reason, reason);
    assert_string_equal(v.text, text);

    /* the verdict is optional */
    assert_int_equal(iams_consent_check(c, &qu->q, now, NULL), reason);
}


static void
test_consent_check_live(void **state)
{
    query          qu;
    iams_consent  *c;

    (void) state;

    c = new_consent();

    query_init(&qu, "TD", "td.idp", PURPOSE, "immd.birth_record",
               "rvd.rates_account");
    expect(c, &qu, NBF, IAMS_CONSENT_LIVE, "consent live");

    /* one item, the other order, or all three */
    query_init(&qu, "TD", "td.idp", PURPOSE, "rvd.rates_account", NULL);
    expect(c, &qu, NBF, IAMS_CONSENT_LIVE, "consent live");

    query_init(&qu, "TD", "td.idp", PURPOSE, "birthDate",
               "immd.birth_record");
    qu.items[2] = span("rvd.rates_account");
    qu.q.nitems = 3;
    expect(c, &qu, NBF, IAMS_CONSENT_LIVE, "consent live");

    /* department codes are compared without regard to case */
    query_init(&qu, "td", "td.idp", PURPOSE, "birthDate", NULL);
    expect(c, &qu, NBF, IAMS_CONSENT_LIVE, "consent live");

    /* the subject, when given, must be the requester's */
    qu.q.subject = span(SUB_TD);
    expect(c, &qu, NBF, IAMS_CONSENT_LIVE, "consent live");
    qu.q.subject = span(SUB_IMMD);
    expect(c, &qu, NBF, IAMS_CONSENT_WRONG_SUBJECT, "wrong subject");
    qu.q.subject = span("");
    expect(c, &qu, NBF, IAMS_CONSENT_WRONG_SUBJECT, "wrong subject");

    iams_consent_free(c);
}


static void
test_consent_check_times(void **state)
{
    query          qu;
    iams_consent  *c;

    (void) state;

    c = new_consent();
    query_init(&qu, "TD", "td.idp", PURPOSE, "birthDate", NULL);

    expect(c, &qu, T0, IAMS_CONSENT_NOT_YET_VALID, "consent not yet valid");
    expect(c, &qu, NBF - 1, IAMS_CONSENT_NOT_YET_VALID,
           "consent not yet valid");
    expect(c, &qu, NBF, IAMS_CONSENT_LIVE, "consent live");
    expect(c, &qu, EXP - 1, IAMS_CONSENT_LIVE, "consent live");
    expect(c, &qu, EXP, IAMS_CONSENT_EXPIRED, "consent expired");
    expect(c, &qu, EXP + 86400, IAMS_CONSENT_EXPIRED, "consent expired");

    /* paused, then resumed: takes effect on the next check */
    assert_int_equal(iams_consent_pause(c, NBF + 10), IAMS_CONSENT_TX_OK);
    expect(c, &qu, NBF + 11, IAMS_CONSENT_PAUSED, "consent paused");
    expect(c, &qu, EXP, IAMS_CONSENT_EXPIRED, "consent expired");
    assert_int_equal(iams_consent_resume(c, NBF + 20), IAMS_CONSENT_TX_OK);
    expect(c, &qu, NBF + 21, IAMS_CONSENT_LIVE, "consent live");

    /* revoked: the very next check is denied, whatever else holds */
    assert_int_equal(iams_consent_revoke(c, NBF + 30), IAMS_CONSENT_TX_OK);
    expect(c, &qu, NBF + 30, IAMS_CONSENT_REVOKED, "consent revoked");
    expect(c, &qu, EXP, IAMS_CONSENT_REVOKED, "consent revoked");
    iams_consent_free(c);

    /* expired by expiry handling */
    c = new_consent();
    assert_int_equal(iams_consent_expire(c, EXP), IAMS_CONSENT_TX_OK);
    expect(c, &qu, NBF, IAMS_CONSENT_EXPIRED, "consent expired");
    iams_consent_free(c);

    /* no record found */
    expect(NULL, &qu, NBF, IAMS_CONSENT_NONE, "no consent");
}


static void
test_consent_check_parties(void **state)
{
    query          qu;
    iams_consent  *c;

    (void) state;

    c = new_consent();

    /* requester X cannot use requester Y's consent */
    query_init(&qu, "RVD", "td.idp", PURPOSE, "birthDate", NULL);
    expect(c, &qu, NBF, IAMS_CONSENT_WRONG_REQUESTER, "wrong requester");
    query_init(&qu, "TD", "td.other", PURPOSE, "birthDate", NULL);
    expect(c, &qu, NBF, IAMS_CONSENT_WRONG_REQUESTER, "wrong requester");
    query_init(&qu, "TD", "TD.IDP", PURPOSE, "birthDate", NULL);
    expect(c, &qu, NBF, IAMS_CONSENT_WRONG_REQUESTER, "wrong requester");
    query_init(&qu, "TD\x00", "td.idp", PURPOSE, "birthDate", NULL);
    qu.q.department.len = 3;
    expect(c, &qu, NBF, IAMS_CONSENT_WRONG_REQUESTER, "wrong requester");
    query_init(&qu, "T\x04", "td.idp", PURPOSE, "birthDate", NULL);
    expect(c, &qu, NBF, IAMS_CONSENT_WRONG_REQUESTER, "wrong requester");
    query_init(&qu, NULL, "td.idp", PURPOSE, "birthDate", NULL);
    expect(c, &qu, NBF, IAMS_CONSENT_WRONG_REQUESTER, "wrong requester");

    /* ... and learns nothing else about it: not that it is revoked, nor
     * what it covers */
    assert_int_equal(iams_consent_revoke(c, NBF), IAMS_CONSENT_TX_OK);
    query_init(&qu, "RVD", "rvd.rates", "x", "td.nothing", NULL);
    expect(c, &qu, T0, IAMS_CONSENT_WRONG_REQUESTER, "wrong requester");
    iams_consent_free(c);

    /* the purpose is exact */
    c = new_consent();
    query_init(&qu, "TD", "td.idp", "idp-application2", "birthDate", NULL);
    expect(c, &qu, NBF, IAMS_CONSENT_WRONG_PURPOSE, "wrong purpose");
    query_init(&qu, "TD", "td.idp", "IDP-APPLICATION", "birthDate", NULL);
    expect(c, &qu, NBF, IAMS_CONSENT_WRONG_PURPOSE, "wrong purpose");
    query_init(&qu, "TD", "td.idp", "", "birthDate", NULL);
    expect(c, &qu, NBF, IAMS_CONSENT_WRONG_PURPOSE, "wrong purpose");
    iams_consent_free(c);
}


static void
test_consent_check_items(void **state)
{
    query          qu;
    iams_consent  *c;

    (void) state;

    c = new_consent();

    /* a consent for item A never releases item B */
    query_init(&qu, "TD", "td.idp", PURPOSE, "immd.birth_record",
               "residentialAddress");
    expect(c, &qu, NBF, IAMS_CONSENT_ITEM_NOT_COVERED,
           "item not covered: residentialAddress");

    /* not by prefix, case or trailing bytes */
    query_init(&qu, "TD", "td.idp", PURPOSE, "immd.birth", NULL);
    expect(c, &qu, NBF, IAMS_CONSENT_ITEM_NOT_COVERED,
           "item not covered: immd.birth");
    query_init(&qu, "TD", "td.idp", PURPOSE, "immd.birth_record_full", NULL);
    expect(c, &qu, NBF, IAMS_CONSENT_ITEM_NOT_COVERED,
           "item not covered: immd.birth_record_full");
    query_init(&qu, "TD", "td.idp", PURPOSE, "birthdate", NULL);
    expect(c, &qu, NBF, IAMS_CONSENT_ITEM_NOT_COVERED,
           "item not covered: (invalid item name)");
    query_init(&qu, "TD", "td.idp", PURPOSE, "birthDate\x00", NULL);
    qu.items[0].len = 10;
    expect(c, &qu, NBF, IAMS_CONSENT_ITEM_NOT_COVERED,
           "item not covered: (invalid item name)");
    query_init(&qu, "TD", "td.idp", PURPOSE, "birthDat", NULL);
    expect(c, &qu, NBF, IAMS_CONSENT_ITEM_NOT_COVERED,
           "item not covered: (invalid item name)");

    /* the data set of the right name from another department */
    query_init(&qu, "TD", "td.idp", PURPOSE, "td.birth_record", NULL);
    expect(c, &qu, NBF, IAMS_CONSENT_ITEM_NOT_COVERED,
           "item not covered: td.birth_record");

    /* which item failed */
    query_init(&qu, "TD", "td.idp", PURPOSE, "birthDate", "x\ny");
    {
        iams_consent_verdict  v;

        assert_int_equal(iams_consent_check(c, &qu.q, NBF, &v),
                         IAMS_CONSENT_ITEM_NOT_COVERED);
        assert_int_equal(v.item, 1);
        assert_string_equal(v.text, "item not covered: (invalid item name)");
    }

    /* nothing asked, nothing released */
    query_init(&qu, "TD", "td.idp", PURPOSE, NULL, NULL);
    expect(c, &qu, NBF, IAMS_CONSENT_NO_ITEMS, "no items requested");

    /* the longest item name (8 + 1 + 48 characters) fits the verdict */
    {
        char  name[64], want[IAMS_CONSENT_REASON_MAX];

        memset(name, 'x', sizeof(name));
        memcpy(name, "abcdefgh.", 9);
        name[57] = '\0';
        snprintf(want, sizeof(want), "item not covered: %s", name);

        query_init(&qu, "TD", "td.idp", PURPOSE, name, NULL);
        assert_true(iams_consent_item_ok(name, 57));
        expect(c, &qu, NBF, IAMS_CONSENT_ITEM_NOT_COVERED, want);

        name[57] = 'x';
        name[58] = '\0';
        query_init(&qu, "TD", "td.idp", PURPOSE, name, NULL);
        expect(c, &qu, NBF, IAMS_CONSENT_ITEM_NOT_COVERED,
               "item not covered: (invalid item name)");
    }

    assert_int_equal(iams_consent_item_source(c, LIT("birthDate")), 0);
    assert_int_equal(iams_consent_item_source(c, LIT("rvd.rates_account")),
                     1);
    assert_int_equal(iams_consent_item_source(c, LIT("rvd.rates")), -1);

    iams_consent_free(c);
}


static void
test_consent_check_uses(void **state)
{
    query          qu;
    iams_consent  *c;

    (void) state;

    c = new_consent();
    query_init(&qu, "TD", "td.idp", PURPOSE, "birthDate", NULL);

    iams_consent_set_usage(c, 2, NBF + 1);
    expect(c, &qu, NBF + 2, IAMS_CONSENT_LIVE, "consent live");
    iams_consent_set_usage(c, 3, NBF + 2);
    expect(c, &qu, NBF + 3, IAMS_CONSENT_USE_LIMIT, "use limit reached");

    /* clamped to what a record may hold */
    iams_consent_set_usage(c, 99, NBF + 2);
    assert_int_equal(c->use_count, 3);
    iams_consent_set_usage(c, -5, -1);
    assert_int_equal(c->use_count, 0);
    assert_int_equal(c->last_used, 0);
    iams_consent_set_usage(c, 1, 5);
    assert_int_equal(c->last_used, T0);
    iams_consent_free(c);
}


/* ---- counted uses ---- */

static void
test_consent_use_verdict(void **state)
{
    iams_consent_verdict  v;
    iams_consent         *c;

    (void) state;

    c = new_consent();              /* 3 uses, at most 2 a day */

    assert_int_equal(iams_consent_use_verdict(c, 1, 1, &v),
                     IAMS_CONSENT_LIVE);
    assert_string_equal(v.text, "consent live");
    assert_int_equal(iams_consent_use_verdict(c, 2, 2, &v),
                     IAMS_CONSENT_LIVE);
    assert_int_equal(iams_consent_use_verdict(c, 3, 3, &v),
                     IAMS_CONSENT_FREQUENCY_LIMIT);
    assert_string_equal(v.text, "frequency limit reached");
    assert_int_equal(iams_consent_use_verdict(c, 3, 1, &v),
                     IAMS_CONSENT_LIVE);
    assert_int_equal(iams_consent_use_verdict(c, 4, 1, &v),
                     IAMS_CONSENT_USE_LIMIT);
    assert_string_equal(v.text, "use limit reached");

    /* a broken reply fails closed */
    assert_int_equal(iams_consent_use_verdict(c, 0, 1, NULL),
                     IAMS_CONSENT_USE_LIMIT);
    assert_int_equal(iams_consent_use_verdict(c, -1, 1, NULL),
                     IAMS_CONSENT_USE_LIMIT);
    assert_int_equal(iams_consent_use_verdict(c, 1, 0, NULL),
                     IAMS_CONSENT_FREQUENCY_LIMIT);

    /* without limits only a positive count is needed */
    c->max_uses = 0;
    c->freq_max = 0;
    c->freq_period = 0;
    assert_int_equal(iams_consent_use_verdict(c, 1000000, 0, NULL),
                     IAMS_CONSENT_LIVE);
    assert_int_equal(iams_consent_use_verdict(c, 5, 99, NULL),
                     IAMS_CONSENT_LIVE);

    iams_consent_free(c);
}


static void
test_consent_period(void **state)
{
    int64_t        k, ttl;
    iams_consent  *c;

    (void) state;

    c = new_consent();              /* periods of one day from NBF */

    iams_consent_period(c, NBF - 1, &k, &ttl);
    assert_int_equal(k, 0);
    assert_int_equal(ttl, 0);

    iams_consent_period(c, NBF, &k, &ttl);
    assert_int_equal(k, 0);
    assert_int_equal(ttl, 86400);

    iams_consent_period(c, NBF + 86399, &k, &ttl);
    assert_int_equal(k, 0);
    assert_int_equal(ttl, 1);

    iams_consent_period(c, NBF + 86400, &k, &ttl);
    assert_int_equal(k, 1);
    assert_int_equal(ttl, 86400);

    iams_consent_period(c, NBF + 10 * 86400 + 5, &k, &ttl);
    assert_int_equal(k, 10);
    assert_int_equal(ttl, 86395);

    c->freq_max = 0;
    c->freq_period = 0;
    iams_consent_period(c, NBF + 5, &k, &ttl);
    assert_int_equal(k, 0);
    assert_int_equal(ttl, 0);

    iams_consent_free(c);
}


/*
 * Concurrent exchanges against one use-limited consent.  Each thread plays
 * an exchange that counts its use with an atomic increment (Redis INCR:
 * every caller sees a distinct value) and lets iams_consent_use_verdict
 * decide.  However the threads interleave, exactly max_uses are allowed.
 */

#define RACE_THREADS   8
#define RACE_ATTEMPTS  250

typedef struct {
    const iams_consent  *consent;
    atomic_llong        *counter;
    atomic_int          *allowed;
    atomic_int          *go;
} race_arg;


static void *
race_exchange(void *p)
{
    int        i;
    int64_t    n;
    race_arg  *a = p;

    while (!atomic_load(a->go)) {
        /* spin until every thread is ready */
    }

    for (i = 0; i < RACE_ATTEMPTS; i++) {
        n = (int64_t) atomic_fetch_add(a->counter, 1) + 1;

        if (iams_consent_use_verdict(a->consent, n, 0, NULL)
            == IAMS_CONSENT_LIVE)
        {
            atomic_fetch_add(a->allowed, 1);
        }
    }

    return NULL;
}


static void
test_consent_concurrent_uses(void **state)
{
    int            i, limit;
    json_t        *t;
    pthread_t      th[RACE_THREADS];
    race_arg       arg;
    atomic_int     allowed, go;
    atomic_llong   counter;
    iams_consent  *c;

    (void) state;

    for (limit = 1; limit <= 1000; limit *= 10) {
        t = terms_json();
        json_object_set_new(t, "max_uses", json_integer(limit));
        json_object_del(t, "frequency");
        c = create_from(t, T0);

        atomic_init(&counter, 0);
        atomic_init(&allowed, 0);
        atomic_init(&go, 0);
        arg.consent = c;
        arg.counter = &counter;
        arg.allowed = &allowed;
        arg.go = &go;

        for (i = 0; i < RACE_THREADS; i++) {
            assert_int_equal(pthread_create(&th[i], NULL, race_exchange,
                                            &arg),
                             0);
        }

        atomic_store(&go, 1);

        for (i = 0; i < RACE_THREADS; i++) {
            pthread_join(th[i], NULL);
        }

        assert_int_equal(atomic_load(&allowed), limit);
        assert_int_equal(atomic_load(&counter), RACE_THREADS * RACE_ATTEMPTS);

        iams_consent_free(c);
    }
}


/* ---- signed artefact ---- */

static void
check_signed(iams_alg alg)
{
    char           *token;
    size_t          len;
    json_t         *claims, *terms, *s0, *h;
    iams_err        err;
    iams_jws        jws;
    iams_jwk       *key, *key2;
    iams_jwks      *pub, *other;
    iams_consent   *c;
    iams_jwt_policy policy;

    static const char *const  aud[] = { "TD" };

    c = new_consent();
    key = iams_test_key_for_alg(alg);

    if (iams_consent_sign(c, key, alg, "gw-2025", "https://gw.example",
                          &token, &len, &err)
        != IAMS_OK)
    {
        fail_msg("sign %s: %s", iams_alg_name(alg), err.detail);
    }

    assert_int_equal(len, strlen(token));

    /* verifiable with the public key only */
    h = iams_test_public_jwk(key);
    json_object_set_new(h, "kid", json_string("gw-2025"));
    pub = iams_test_set(h, NULL);
    assert_int_equal(iams_jws_parse(token, len, &jws, &err), IAMS_OK);
    assert_int_equal(jws.alg, alg);
    assert_string_equal(jws.kid, "gw-2025");
    h = json_object_get(jws.header, "typ");
    assert_string_equal(json_string_value(h), "consent+jwt");
    assert_int_equal(iams_jws_verify(&jws, pub, IAMS_ALG_BIT(alg), NULL,
                                     &err),
                     IAMS_OK);

    /* a standard JWT for the requester, live in the consent's window */
    assert_int_equal(iams_jwt_claims(&jws, &claims, &err), IAMS_OK);
    memset(&policy, 0, sizeof(policy));
    policy.issuer = "https://gw.example";
    policy.audiences = aud;
    policy.naudiences = 1;
    assert_int_equal(iams_jwt_check(claims, &policy, NBF, &err), IAMS_OK);
    assert_int_equal(iams_jwt_check(claims, &policy, EXP, &err),
                     IAMS_ERR_EXPIRED);
    assert_int_equal(iams_jwt_check(claims, &policy, NBF - 1, &err),
                     IAMS_ERR_NOT_YET_VALID);

    assert_string_equal(json_string_value(json_object_get(claims, "sub")),
                        SUB_TD);
    assert_string_equal(json_string_value(json_object_get(claims, "jti")),
                        c->id);
    assert_int_equal(json_integer_value(json_object_get(claims, "iat")), T0);

    terms = json_object_get(claims, "consent");
    assert_int_equal(json_integer_value(json_object_get(terms, "v")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(terms, "purpose"), "code")),
                        PURPOSE);
    assert_int_equal(json_integer_value(json_object_get(terms, "max_uses")),
                     3);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(terms, "frequency"), "max")),
                     2);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(terms, "requester"), "service")),
                        "td.idp");
    s0 = json_array_get(json_object_get(terms, "sources"), 0);
    assert_string_equal(json_string_value(json_object_get(s0, "department")),
                        "ImmD");
    assert_int_equal(json_array_size(json_object_get(s0, "items")), 2);

    /* no citizen reference, no other department's pseudonym, no state */
    assert_null(strstr((char *) jws.payload, CITIZEN));
    assert_null(strstr((char *) jws.payload, SUB_IMMD));
    assert_null(strstr((char *) jws.payload, SUB_RVD));
    assert_null(json_object_get(s0, "subject"));
    assert_null(json_object_get(terms, "status"));
    assert_null(json_object_get(terms, "use_count"));

    /* the payload is the claims set in canonical form */
    {
        char    *canon;
        json_t  *expected;

        expected = iams_consent_claims(c, "https://gw.example");
        canon = json_dumps(expected, JSON_COMPACT | JSON_SORT_KEYS);
        assert_int_equal(jws.payload_len, strlen(canon));
        assert_memory_equal(jws.payload, canon, jws.payload_len);
        free(canon);
        json_decref(expected);
    }

    json_decref(claims);
    iams_jws_clear(&jws);

    /* another key does not verify it */
    key2 = iams_test_generated_key("ED25519", NULL);
    h = iams_test_public_jwk(key2);
    json_object_set_new(h, "kid", json_string("gw-2025"));
    other = iams_test_set(h, NULL);
    iams_jwk_free(key2);
    assert_int_equal(iams_jws_parse(token, len, &jws, &err), IAMS_OK);
    assert_int_not_equal(iams_jws_verify(&jws, other, IAMS_ALG_SET_ALL, NULL,
                                         &err),
                         IAMS_OK);
    assert_int_not_equal(err.status, IAMS_ERR_UNKNOWN_KID);
    iams_jws_clear(&jws);

    /* a changed claim breaks the signature */
    {
        char  *dot = strchr(token, '.') + 5;

        *dot = *dot == 'A' ? 'B' : 'A';
        if (iams_jws_parse(token, len, &jws, &err) == IAMS_OK) {
            assert_int_not_equal(iams_jws_verify(&jws, pub, IAMS_ALG_BIT(alg),
                                                 NULL, &err),
                                 IAMS_OK);
            iams_jws_clear(&jws);
        }
    }

    iams_jwks_free(other);
    iams_jwks_free(pub);
    iams_jwk_free(key);
    free(token);
    iams_consent_free(c);
}


static void
test_consent_sign(void **state)
{
    char          *token;
    size_t         len;
    json_t        *claims;
    iams_err       err;
    iams_jwk      *key;
    iams_consent  *c;

    (void) state;

    check_signed(IAMS_ALG_ES256);
    check_signed(IAMS_ALG_PS256);
    check_signed(IAMS_ALG_EDDSA);

    /* without an issuer there is no "iss" */
    c = new_consent();
    claims = iams_consent_claims(c, NULL);
    assert_null(json_object_get(claims, "iss"));
    json_decref(claims);

    /* the key must be able to sign with alg */
    key = iams_test_key_for_alg(IAMS_ALG_ES256);
    assert_int_equal(iams_consent_sign(c, key, IAMS_ALG_RS256, NULL, NULL,
                                       &token, &len, &err),
                     IAMS_ERR_ALG_KEY_MISMATCH);
    assert_null(token);

    /* an invalid record is not signed */
    c->expires = c->not_before;
    assert_int_equal(iams_consent_sign(c, key, IAMS_ALG_ES256, NULL, NULL,
                                       &token, &len, &err),
                     IAMS_ERR_MALFORMED);
    assert_null(token);

    iams_jwk_free(key);
    iams_consent_free(c);
}


static void
test_consent_names(void **state)
{
    iams_consent  *c;

    (void) state;

    assert_true(iams_consent_id_ok(LIT("AAAAAAAAAAAAAAAAAAAAAA")));
    assert_false(iams_consent_id_ok(LIT("AAAAAAAAAAAAAAAAAAAAAB")));
    assert_false(iams_consent_id_ok(LIT("AAAAAAAAAAAAAAAAAAAAA=")));
    assert_false(iams_consent_id_ok(LIT("AAAAAAAAAAAAAAAAAAAAAAA")));
    assert_false(iams_consent_id_ok(LIT("AAAAAAAAAAAAAAAAAAAA+A")));
    assert_false(iams_consent_id_ok("", 0));

    assert_true(iams_consent_item_ok(LIT("residentialAddress")));
    assert_true(iams_consent_item_ok(LIT("td.driving_licence")));
    assert_true(iams_consent_item_ok(LIT("immd.birth_record")));
    assert_false(iams_consent_item_ok(LIT("td.driving_licence.expiry")));
    assert_false(iams_consent_item_ok(LIT("TD.driving_licence")));
    assert_false(iams_consent_item_ok(LIT("openID")));
    assert_false(iams_consent_item_ok(LIT("birthDate ")));
    assert_false(iams_consent_item_ok("birthDate\0x", 11));
    assert_false(iams_consent_item_ok("", 0));

    c = new_consent();
    assert_true(iams_consent_citizen_is(c, LIT(CITIZEN)));
    assert_false(iams_consent_citizen_is(c, CITIZEN, sizeof(CITIZEN) - 2));
    assert_false(iams_consent_citizen_is(c, LIT(CITIZEN "x")));
    assert_false(iams_consent_citizen_is(c, "", 0));
    iams_consent_free(c);

    assert_string_equal(iams_consent_reason_str(IAMS_CONSENT_NONE),
                        "no consent");
    assert_string_equal(iams_consent_reason_str(IAMS_CONSENT_REASON_COUNT),
                        "unknown reason");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_consent_create),
        cmocka_unit_test(test_consent_round_trip),
        cmocka_unit_test(test_consent_malformed),
        cmocka_unit_test(test_consent_malformed_json),
        cmocka_unit_test(test_consent_validate_struct),
        cmocka_unit_test(test_consent_transitions),
        cmocka_unit_test(test_consent_effective_status),
        cmocka_unit_test(test_consent_check_live),
        cmocka_unit_test(test_consent_check_times),
        cmocka_unit_test(test_consent_check_parties),
        cmocka_unit_test(test_consent_check_items),
        cmocka_unit_test(test_consent_check_uses),
        cmocka_unit_test(test_consent_use_verdict),
        cmocka_unit_test(test_consent_period),
        cmocka_unit_test(test_consent_concurrent_uses),
        cmocka_unit_test(test_consent_sign),
        cmocka_unit_test(test_consent_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
