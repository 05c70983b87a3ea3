/*
 * The adapter SDK: optional helpers for writing adapters in C with jansson.
 *
 * iamsmart/adapter.h is the contract and all an adapter must include.  This
 * small library does the chores every department adapter repeats: parse the
 * gateway's input and the backend's reply with bounds, build canonical data
 * in which every field carries its source and last-updated time, convert
 * dates, timestamps, names, phone numbers, HKIDs and addresses between a
 * department's formats and the canonical ones (iAM Smart profile / e-ME
 * shapes, the HK Government common address schema), and write the output
 * into gateway memory.  An adapter compiles iams_sdk.c into its own shared
 * object (docs/adapters.md, "Build"); nothing here keeps mutable state.
 *
 * Memory: json_t results are new references the caller decrefs; functions
 * documented as stealing a reference take it over also on failure.  char
 * buffers are the caller's, with their capacity given.  Pointers into a
 * json_t (strings, sub-values) live as long as that value.
 *
 * Return values: an int 0 means success and -1 failure, unless stated; a
 * NULL json_t * means the input was not usable (or memory ran out).
 */

#ifndef IAMS_SDK_H
#define IAMS_SDK_H

#include <stddef.h>
#include <jansson.h>

#include <iamsmart/adapter.h>

#define IAMS_SDK_DEPTH_MAX    32        /* nesting of parsed JSON */
#define IAMS_SDK_HKID_MAX     12        /* "XA123456(7)" + NUL */


/* ---- input and output ---- */

/* Parses exactly text[0..len) as JSON (an object with the _object form)
 * when len <= max and the nesting stays within IAMS_SDK_DEPTH_MAX;
 * duplicate keys are refused. */
json_t *iams_sdk_parse(const char *text, size_t len, size_t max);
json_t *iams_sdk_parse_object(const char *text, size_t len, size_t max);

/* Serialises value (stolen) compactly into the call's output. */
iams_adapter_status iams_sdk_output(iams_adapter_call *call, json_t *value);

/* iams_adapter_fail() with a printf-style message. */
iams_adapter_status iams_sdk_fail(iams_adapter_call *call,
    iams_adapter_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));


/* The canonical query, parsed.  hkid is the released idNo without brackets
 * ("A1234563"), or "" when consent did not release it. */
typedef struct {
    json_t        *json;                /* owned: iams_sdk_query_free */
    const char    *dataset;
    const char    *subject;
    const char    *lang;                /* "en" unless the query says */
    const json_t  *params;              /* NULL when absent */
    char           hkid[IAMS_SDK_HKID_MAX];
} iams_sdk_query;

/* The configuration's string member key (dflt when absent) copied into out;
 * -1 when it is not a string, does not fit cap, or, with path != 0, does
 * not start with "/". */
int iams_sdk_config_string(const json_t *cfg, const char *key,
    const char *dflt, int path, char *out, size_t cap);


/* init for adapters whose only setting is {"api_prefix": "/path"}: *state
 * becomes a malloc()ed copy of the prefix (at most 63 bytes; dflt when the
 * configuration has none), which fini frees with free(). */
iams_adapter_status iams_sdk_init_prefix(iams_adapter_call *call,
    const char *config, size_t config_len, const char *dflt, void **state);


/* IAMS_ADAPTER_ERR_INVALID_INPUT (with a message) for a query the gateway
 * should not have sent. */
iams_adapter_status iams_sdk_query_parse(iams_adapter_call *call,
    const char *text, size_t len, iams_sdk_query *q);
void iams_sdk_query_free(iams_sdk_query *q);


/* ---- backend replies ---- */

/* The value of a header (name in lower case), or NULL. */
const char *iams_sdk_reply_header(const iams_adapter_reply *reply,
    const char *name, size_t *len);

/* The usual meaning of a non-2xx status: 404 and 410 not_found, 403
 * denied, anything else backend_error (a 400 means the adapter asked
 * wrongly, which the backend reports as its error, too). */
iams_adapter_status iams_sdk_status_from_http(int status);

/* For a 2xx reply with a JSON body: *body = the parsed object.  Otherwise
 * the typed error, with a message naming the status or the parse error. */
iams_adapter_status iams_sdk_reply_object(iams_adapter_call *call,
    const iams_adapter_reply *reply, json_t **body);


/* ---- canonical data ---- */

/* {"dataset": dataset, "fields": {}} */
json_t *iams_sdk_data_new(const char *dataset);

/* Adds fields[name] = {value (stolen), source, last_updated}.  A NULL value
 * adds nothing and succeeds: fields the backend lacks are left out. */
int iams_sdk_data_set(json_t *data, const char *name, json_t *value,
    const char *source, const char *last_updated);

/* Ends a map_response: the data (stolen) becomes the output, unless
 * malformed is not NULL (IAMS_ADAPTER_ERR_BAD_REPLY with that message) or
 * nomem is set (a failed iams_sdk_data_set). */
iams_adapter_status iams_sdk_data_output(iams_adapter_call *call,
    json_t *data, int nomem, const char *malformed);

/* Form input: the value of a canonical field, or NULL. */
const json_t *iams_sdk_input_value(const json_t *input, const char *name);
const char *iams_sdk_input_string(const json_t *input, const char *name);

/* {"form": form, "payload": {}} */
json_t *iams_sdk_form_new(const char *form);

/* payload[name] = value (stolen).  A NULL value records name in "missing"
 * when required, else adds nothing.  Dots in name nest objects:
 * "applicant.surname" sets payload.applicant.surname. */
int iams_sdk_form_set(json_t *form, const char *name, json_t *value,
    int required);

/* payload[name] = the canonical field's value as it is (a copy). */
int iams_sdk_form_copy(json_t *form, const char *name, const json_t *input,
    const char *field, int required);

/* payload[name] = a canonical date field ("YYYYMMDD") in pattern. */
int iams_sdk_form_date(json_t *form, const char *name, const json_t *input,
    const char *field, const char *pattern, int required);

/* payload[surname] and payload[given] from the canonical enName ("CHAN",
 * "Tai Man"); required applies to the surname. */
int iams_sdk_form_en_name(json_t *form, const char *surname,
    const char *given, const json_t *input, int required);

/* payload[name] = the Chinese name of the canonical chName. */
int iams_sdk_form_zh_name(json_t *form, const char *name,
    const json_t *input, int required);

/* payload[name] = the canonical idNo as "A123456(3)" (brackets != 0) or
 * "A1234563". */
int iams_sdk_form_hkid(json_t *form, const char *name, const json_t *input,
    int brackets, int required);

/* payload[name] = the first of the canonical phone fields (a
 * NULL-terminated list) that is present: the local number for Hong Kong
 * (852), "+<code><number>" otherwise. */
int iams_sdk_form_phone(json_t *form, const char *name, const json_t *input,
    const char *const *fields, int required);


/* ---- JSON pointers (RFC 6901) ---- */

/* The value at pointer ("" is the root, "/a/0/b"), or NULL. */
json_t *iams_sdk_pointer(const json_t *root, const char *pointer);

/* The string at pointer, or NULL when absent or not a string. */
const char *iams_sdk_pointer_string(const json_t *root, const char *pointer);


/* ---- dates and times ----
 *
 * Patterns are made of the tokens YYYY, MM, DD, hh, mm, ss and literal
 * characters that must match exactly: "DD/MM/YYYY", "YYYY-MM-DD hh:mm".
 * MM and DD also accept one digit ("1/3/2025") when the next pattern
 * character is a literal. */

/* in (length len) in pattern -> "YYYYMMDD" + NUL; -1 if not a real date. */
int iams_sdk_date_parse(const char *in, size_t len, const char *pattern,
    char out[9]);

/* "YYYYMMDD" -> pattern; -1 if not a date or cap is too small. */
int iams_sdk_date_format(const char *yyyymmdd, const char *pattern,
    char *out, size_t cap);

/* A backend timestamp -> RFC 3339 UTC "YYYY-MM-DDThh:mm:ssZ" + NUL.  With
 * a pattern the time is local at tz_minutes east of UTC (Hong Kong: 480);
 * with pattern NULL the input is RFC 3339 with its own offset. */
int iams_sdk_timestamp(const char *in, size_t len, const char *pattern,
    int tz_minutes, char out[21]);


/* ---- names ---- */

/* {"UnstructuredName": "CHAN, Tai Man"} from a surname and given names
 * (given may be NULL or ""). */
json_t *iams_sdk_en_name(const char *surname, const char *given);

/* The same from one string: "CHAN, Tai Man" is kept; "CHAN Tai Man" is
 * read as surname first. */
json_t *iams_sdk_en_name_text(const char *full);

/* Splits an en_name value at its comma (or first space); 0 on success. */
int iams_sdk_en_name_split(const json_t *en_name, char *surname,
    size_t surname_cap, char *given, size_t given_cap);

/* {"ChineseName": full} */
json_t *iams_sdk_zh_name(const char *full);

/* Splits a zh_name value: the surname is its first character, or its
 * first two for the compound surnames (歐陽, 司徒, 上官 ...). */
int iams_sdk_zh_name_split(const json_t *zh_name, char *surname,
    size_t surname_cap, char *given, size_t given_cap);


/* ---- phones and identity numbers ---- */

/* "+852 9123 4567", "(852) 9123-4567", "91234567" -> {"CountryCode",
 * "SubscriberNumber"}; no country code means 852. */
json_t *iams_sdk_phone_parse(const char *text);

/* "91234567" (local) or "+85291234567" (e164 != 0). */
int iams_sdk_phone_format(const json_t *phone, int e164, char *out,
    size_t cap);

/* "A123456(3)", "A1234563", "XA987654(2)" -> {"Identification",
 * "CheckDigit"} when the check digit is right. */
json_t *iams_sdk_hkid_parse(const char *text);

/* "A123456(3)" (brackets != 0) or "A1234563". */
int iams_sdk_hkid_format(const json_t *hkid, int brackets, char *out,
    size_t cap);


/* ---- addresses (HK Government common address schema) ---- */

/* Parts of a premises address, any of them NULL.  district is a district
 * code (CW, WC, EST, SOU, YTM, SSP, KC, WTS, KT, KWT, TW, TM, YL, NTH, TP,
 * ST, SK, IS); region HK, KLN or NT. */
typedef struct {
    const char  *unit;
    const char  *floor;
    const char  *block;
    const char  *building;
    const char  *estate;
    const char  *street;
    const char  *building_no;
    const char  *district;
    const char  *region;
} iams_sdk_premises;

/* {"EngPremisesAddress": {...}} or, with chinese != 0,
 * {"ChiPremisesAddress": {...}}; NULL when no part is given or the region
 * is not HK, KLN or NT. */
json_t *iams_sdk_address_premises(const iams_sdk_premises *p, int chinese);

/* {"FreeFormatAddress": {"AddressLine1", ...}}; lines may be NULL except
 * the first. */
json_t *iams_sdk_address_free(const char *line1, const char *line2,
    const char *line3);

/* The address as display lines, an array of strings, in English ("en") or
 * Chinese ("zh-HK"; premises addresses from the largest part down).  An
 * address in the other language is rendered as it is.  NULL when the value
 * is not an address. */
json_t *iams_sdk_address_lines(const json_t *address, const char *lang);

/* The lines joined (", " in English, nothing in Chinese) into out. */
int iams_sdk_address_text(const json_t *address, const char *lang,
    char *out, size_t cap);

/* District and region names ("Eastern", "東區"); the code itself when it
 * is not known. */
const char *iams_sdk_district_name(const char *code, int chinese);
const char *iams_sdk_region_name(const char *code, int chinese);

#endif /* IAMS_SDK_H */
