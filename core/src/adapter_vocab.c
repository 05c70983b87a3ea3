/*
 * The fixed vocabulary of adapter metadata and canonical data: life themes,
 * age groups, field types, the iAM Smart profile and e-ME field names, and
 * the syntax of identifiers, dates and timestamps.  docs/adapters.md lists
 * the same words; change both together.  A theme or age group is only ever
 * appended, never renamed: portals and apps key on the ids.
 */

#include <stdio.h>
#include <string.h>

#include "adapter_internal.h"


const iams_adapter_term  iams_adapter_themes[IAMS_ADAPTER_NTHEME] = {
    { "business", "Business and trade", "工商業" },
    { "civic", "Civic affairs and elections", "公民事務及選舉" },
    { "education", "Education", "教育" },
    { "employment", "Employment", "就業" },
    { "environment", "Environment", "環境" },
    { "family", "Family and life events", "家庭及人生大事" },
    { "health", "Health", "健康" },
    { "housing", "Housing and property", "房屋及物業" },
    { "immigration", "Immigration and identity", "入境及身份證明" },
    { "leisure", "Leisure and culture", "康樂及文化" },
    { "public_safety", "Public safety", "公共安全" },
    { "social_welfare", "Social welfare", "社會福利" },
    { "tax", "Tax and rates", "稅務及差餉" },
    { "transport", "Transport", "交通" },
    { "travel", "Travel", "旅遊及出行" },
};

const iams_adapter_term
    iams_adapter_age_groups[IAMS_ADAPTER_NAGE_GROUP] =
{
    { "child",   "Children (under 12)",  "兒童（12歲以下）" },
    { "youth",   "Youth (12 to 24)",     "青年（12至24歲）" },
    { "adult",   "Adults (25 to 59)",    "成人（25至59歲）" },
    { "elderly", "Elderly (60 and over)", "長者（60歲或以上）" },
};

static const char *const  iams_adapter_type_names[IAMS_ATYPE_COUNT] = {
    [IAMS_ATYPE_STRING]   = "string",
    [IAMS_ATYPE_DATE]     = "date",
    [IAMS_ATYPE_DATETIME] = "datetime",
    [IAMS_ATYPE_INTEGER]  = "integer",
    [IAMS_ATYPE_NUMBER]   = "number",
    [IAMS_ATYPE_BOOLEAN]  = "boolean",
    [IAMS_ATYPE_FLAG]     = "flag",
    [IAMS_ATYPE_HKID]     = "hkid",
    [IAMS_ATYPE_EN_NAME]  = "en_name",
    [IAMS_ATYPE_ZH_NAME]  = "zh_name",
    [IAMS_ATYPE_PHONE]    = "phone",
    [IAMS_ATYPE_ADDRESS]  = "address",
    [IAMS_ATYPE_OBJECT]   = "object",
    [IAMS_ATYPE_ARRAY]    = "array",
};


/* protocol section 4: profileFields, then eMEFields */
static const iams_adapter_platform_field  iams_adapter_platform_fields[] = {
    { "idNo",               IAMS_ATYPE_HKID,    1 },
    { "enName",             IAMS_ATYPE_EN_NAME, 1 },
    { "chName",             IAMS_ATYPE_ZH_NAME, 1 },
    { "chNameVerified",     IAMS_ATYPE_FLAG,    1 },
    { "birthDate",          IAMS_ATYPE_DATE,    1 },
    { "gender",             IAMS_ATYPE_STRING,  1 },
    { "prefix",             IAMS_ATYPE_STRING,  0 },
    { "maritalStatus",      IAMS_ATYPE_STRING,  0 },
    { "homeTelNumber",      IAMS_ATYPE_PHONE,   0 },
    { "officeTelNumber",    IAMS_ATYPE_PHONE,   0 },
    { "mobileNumber",       IAMS_ATYPE_PHONE,   0 },
    { "emailAddress",       IAMS_ATYPE_STRING,  0 },
    { "residentialAddress", IAMS_ATYPE_ADDRESS, 0 },
    { "postalAddress",      IAMS_ATYPE_ADDRESS, 0 },
    { "educationLevel",     IAMS_ATYPE_STRING,  0 },
    { "passportNumber",     IAMS_ATYPE_STRING,  0 },
    { "passportExpiry",     IAMS_ATYPE_DATE,    0 },
    { "employmentStatus",   IAMS_ATYPE_STRING,  0 },
    { "propertyOwner",      IAMS_ATYPE_FLAG,    0 },
    { "carOwner",           IAMS_ATYPE_FLAG,    0 },
};


int
iams_adapter_term_find(const iams_adapter_term *terms, size_t n,
    const char *id)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (strcmp(terms[i].id, id) == 0) {
            return (int) i;
        }
    }

    return -1;
}


int
iams_adapter_type_find(const char *s)
{
    int  i;

    for (i = 0; i < IAMS_ATYPE_COUNT; i++) {
        if (strcmp(iams_adapter_type_names[i], s) == 0) {
            return i;
        }
    }

    return -1;
}


const char *
iams_adapter_type_name(iams_adapter_type type)
{
    if ((unsigned) type >= IAMS_ATYPE_COUNT) {
        return "?";
    }

    return iams_adapter_type_names[type];
}


const iams_adapter_platform_field *
iams_adapter_platform_field_find(const char *name)
{
    size_t  i;

    for (i = 0;
         i < sizeof(iams_adapter_platform_fields)
             / sizeof(iams_adapter_platform_fields[0]);
         i++)
    {
        if (strcmp(iams_adapter_platform_fields[i].name, name) == 0) {
            return &iams_adapter_platform_fields[i];
        }
    }

    return NULL;
}


static int
iams_is_digit(char c)
{
    return c >= '0' && c <= '9';
}


static int
iams_is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}


static int
iams_is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}


/* n digits at s, as a number */
static int
iams_digits(const char *s, size_t n, int *value)
{
    size_t  i;

    *value = 0;

    for (i = 0; i < n; i++) {
        if (!iams_is_digit(s[i])) {
            return 0;
        }
        *value = *value * 10 + (s[i] - '0');
    }

    return 1;
}


static int
iams_days_in_month(int year, int month)
{
    static const int  days[12] = { 31, 28, 31, 30, 31, 30,
                                   31, 31, 30, 31, 30, 31 };

    if (month == 2
        && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
    {
        return 29;
    }

    return days[month - 1];
}


static int
iams_ymd_ok(int y, int m, int d)
{
    return y >= 1800 && y <= 9999 && m >= 1 && m <= 12 && d >= 1
           && d <= iams_days_in_month(y, m);
}


int
iams_adapter_date_ok(const char *s)
{
    int  y, m, d;

    return strlen(s) == 8
           && iams_digits(s, 4, &y) && iams_digits(s + 4, 2, &m)
           && iams_digits(s + 6, 2, &d) && iams_ymd_ok(y, m, d);
}


int
iams_adapter_rfc3339_ok(const char *s)
{
    int     y, mo, d, h, mi, sec, oh, om;
    size_t  i, len;

    len = strlen(s);

    /* YYYY-MM-DDTHH:MM:SS, then fraction, then Z or +HH:MM */
    if (len < 20
        || !iams_digits(s, 4, &y) || s[4] != '-'
        || !iams_digits(s + 5, 2, &mo) || s[7] != '-'
        || !iams_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't')
        || !iams_digits(s + 11, 2, &h) || s[13] != ':'
        || !iams_digits(s + 14, 2, &mi) || s[16] != ':'
        || !iams_digits(s + 17, 2, &sec)
        || !iams_ymd_ok(y, mo, d) || h > 23 || mi > 59 || sec > 60)
    {
        return 0;
    }

    i = 19;

    if (s[i] == '.') {
        i++;
        while (i < len && i < 30 && iams_is_digit(s[i])) {
            i++;
        }
        if (i == 20 || !(i < len) || iams_is_digit(s[i])) {
            return 0;
        }
    }

    if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
        return 1;
    }

    return (s[i] == '+' || s[i] == '-') && i + 6 == len
           && iams_digits(s + i + 1, 2, &oh) && s[i + 3] == ':'
           && iams_digits(s + i + 4, 2, &om) && oh <= 23 && om <= 59;
}


/* [a-z0-9_]{1,max} from s up to end (or NUL); returns the length taken */
static size_t
iams_snake(const char *s, size_t max)
{
    size_t  i;

    for (i = 0; s[i] != '\0' && s[i] != '.'; i++) {
        if (i == max
            || !(iams_is_lower(s[i]) || iams_is_digit(s[i]) || s[i] == '_'))
        {
            return 0;
        }
    }

    return i;
}


/* "<dept>.<name>": dept [a-z]{2,8}, name [a-z0-9_]{1,48}; with prefix,
 * dept must be that prefix (already lower case). */
int
iams_adapter_id_ok(const char *s, const char *prefix)
{
    size_t  i, n;

    for (i = 0; iams_is_lower(s[i]); i++) {
        /* void */
    }

    if (i < 2 || i > 8 || s[i] != '.') {
        return 0;
    }

    if (prefix != NULL && (strlen(prefix) != i || strncmp(s, prefix, i))) {
        return 0;
    }

    n = iams_snake(s + i + 1, 48);

    return n > 0 && s[i + 1 + n] == '\0';
}


/* "<dept>.<dataset>.<field>" */
int
iams_adapter_dataset_field_ok(const char *s)
{
    const char  *dot;
    char         id[64];
    size_t       n;

    dot = strrchr(s, '.');
    if (dot == NULL || (size_t) (dot - s) >= sizeof(id)) {
        return 0;
    }

    memcpy(id, s, dot - s);
    id[dot - s] = '\0';

    n = iams_snake(dot + 1, 64);

    return iams_adapter_id_ok(id, NULL) && n > 0 && dot[1 + n] == '\0';
}


int
iams_adapter_canonical_name_ok(const char *s)
{
    return iams_adapter_platform_field_find(s) != NULL
           || iams_adapter_dataset_field_ok(s);
}


int
iams_adapter_bilingual_ok(const json_t *name, char *why, size_t why_len)
{
    const char  *key;
    json_t      *v;

    if (!json_is_object(name)) {
        snprintf(why, why_len, "not an object with \"en\" and \"zh-HK\"");
        return 0;
    }

    json_object_foreach((json_t *) name, key, v) {
        if (strcmp(key, "en") != 0 && strcmp(key, "zh-HK") != 0) {
            snprintf(why, why_len, "unknown language \"%.16s\"", key);
            return 0;
        }
    }

    v = json_object_get(name, "en");
    if (!json_is_string(v) || json_string_length(v) == 0) {
        snprintf(why, why_len, "lacks an English (\"en\") name");
        return 0;
    }

    v = json_object_get(name, "zh-HK");
    if (!json_is_string(v) || json_string_length(v) == 0) {
        snprintf(why, why_len, "lacks a Chinese (\"zh-HK\") name");
        return 0;
    }

    return 1;
}


/* every member is one of keys (NULL-terminated) and holds a string */
static int
iams_string_members(const json_t *obj, const char *const *keys,
    char *why, size_t why_len)
{
    size_t       i;
    const char  *key;
    json_t      *v;

    json_object_foreach((json_t *) obj, key, v) {
        for (i = 0; keys[i] != NULL; i++) {
            if (strcmp(keys[i], key) == 0) {
                break;
            }
        }

        if (keys[i] == NULL) {
            snprintf(why, why_len, "unexpected member \"%.32s\"", key);
            return 0;
        }

        if (!json_is_string(v)) {
            snprintf(why, why_len, "\"%.32s\" is not a string", key);
            return 0;
        }
    }

    return 1;
}


static int
iams_digits_string(const json_t *v, size_t min, size_t max)
{
    size_t       i, n;
    const char  *s;

    if (!json_is_string(v)) {
        return 0;
    }

    s = json_string_value(v);
    n = json_string_length(v);

    if (n < min || n > max) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (!iams_is_digit(s[i])) {
            return 0;
        }
    }

    return 1;
}


/* one or two capital letters and six digits; a check digit 0-9 or A */
static int
iams_hkid_ok(const char *id, const char *check)
{
    size_t  i, n, letters;

    if (id == NULL || check == NULL) {
        return 0;
    }

    n = strlen(id);
    if (n < 7 || n > 8) {
        return 0;
    }

    letters = n - 6;

    for (i = 0; i < n; i++) {
        if (i < letters ? !iams_is_upper(id[i]) : !iams_is_digit(id[i])) {
            return 0;
        }
    }

    return strlen(check) == 1 && (iams_is_digit(check[0]) || check[0] == 'A');
}


static int
iams_region_ok(const json_t *obj)
{
    const char  *r;
    json_t      *v;

    v = json_object_get(obj, "Region");
    if (v == NULL) {
        return 1;
    }

    r = json_string_value(v);

    return r != NULL
           && (strcmp(r, "HK") == 0 || strcmp(r, "KLN") == 0
               || strcmp(r, "NT") == 0);
}


/* premises addresses: strings and objects of strings, two levels deep */
static int
iams_premises_ok(const json_t *obj, int depth)
{
    const char  *key;
    json_t      *v;

    json_object_foreach((json_t *) obj, key, v) {
        if (json_is_string(v)) {
            continue;
        }

        if (!json_is_object(v) || depth == 0
            || !iams_premises_ok(v, depth - 1))
        {
            return 0;
        }
    }

    return 1;
}


static int
iams_address_ok(const json_t *value, char *why, size_t why_len)
{
    static const char *const  free_keys[] = {
        "AddressLine1", "AddressLine2", "AddressLine3", NULL
    };
    static const char *const  box_keys[] = {
        "PoBoxNo", "PostOffice", "Region", NULL
    };

    const char  *kind;
    json_t      *v;

    if (!json_is_object(value) || json_object_size(value) != 1) {
        snprintf(why, why_len, "an address holds exactly one of "
                 "EngPremisesAddress, ChiPremisesAddress, FreeFormatAddress, "
                 "PostBoxAddress");
        return 0;
    }

    kind = json_object_iter_key(json_object_iter((json_t *) value));
    v = json_object_iter_value(json_object_iter((json_t *) value));

    if (!json_is_object(v) || json_object_size(v) == 0) {
        snprintf(why, why_len, "%s is not a non-empty object", kind);
        return 0;
    }

    if (strcmp(kind, "FreeFormatAddress") == 0) {
        if (!iams_string_members(v, free_keys, why, why_len)) {
            return 0;
        }

        if (json_object_get(v, "AddressLine1") == NULL) {
            snprintf(why, why_len, "FreeFormatAddress lacks AddressLine1");
            return 0;
        }

        return 1;
    }

    if (strcmp(kind, "PostBoxAddress") == 0) {
        if (!iams_string_members(v, box_keys, why, why_len)) {
            return 0;
        }

        if (json_object_get(v, "PoBoxNo") == NULL || !iams_region_ok(v)) {
            snprintf(why, why_len, "PostBoxAddress lacks PoBoxNo or has a "
                     "Region other than HK, KLN, NT");
            return 0;
        }

        return 1;
    }

    if (strcmp(kind, "EngPremisesAddress") == 0
        || strcmp(kind, "ChiPremisesAddress") == 0)
    {
        if (!iams_premises_ok(v, 2) || !iams_region_ok(v)) {
            snprintf(why, why_len, "%s: members must be strings or objects "
                     "of strings, Region one of HK, KLN, NT", kind);
            return 0;
        }

        return 1;
    }

    snprintf(why, why_len, "unknown address kind \"%.32s\"", kind);
    return 0;
}


int
iams_adapter_value_ok(iams_adapter_type type, const json_t *value,
    char *why, size_t why_len)
{
    static const char *const  hkid_keys[] = {
        "Identification", "CheckDigit", NULL
    };
    static const char *const  en_keys[] = { "UnstructuredName", NULL };
    static const char *const  zh_keys[] = { "ChineseName", NULL };
    static const char *const  phone_keys[] = {
        "CountryCode", "SubscriberNumber", NULL
    };

    const char  *s;
    json_t      *v;

    s = json_string_value(value);

    switch (type) {

    case IAMS_ATYPE_STRING:
        if (s != NULL) {
            return 1;
        }
        break;

    case IAMS_ATYPE_DATE:
        if (s != NULL && iams_adapter_date_ok(s)) {
            return 1;
        }
        snprintf(why, why_len, "not a YYYYMMDD date");
        return 0;

    case IAMS_ATYPE_DATETIME:
        if (s != NULL && iams_adapter_rfc3339_ok(s)) {
            return 1;
        }
        snprintf(why, why_len, "not an RFC 3339 timestamp");
        return 0;

    case IAMS_ATYPE_INTEGER:
        if (json_is_integer(value)) {
            return 1;
        }
        break;

    case IAMS_ATYPE_NUMBER:
        if (json_is_number(value)) {
            return 1;
        }
        break;

    case IAMS_ATYPE_BOOLEAN:
        if (json_is_boolean(value)) {
            return 1;
        }
        break;

    case IAMS_ATYPE_FLAG:
        if (s != NULL && (strcmp(s, "Y") == 0 || strcmp(s, "N") == 0)) {
            return 1;
        }
        snprintf(why, why_len, "not \"Y\" or \"N\"");
        return 0;

    case IAMS_ATYPE_HKID:
        if (json_is_object(value)
            && iams_string_members(value, hkid_keys, why, why_len)
            && iams_hkid_ok(
                   json_string_value(json_object_get(value, "Identification")),
                   json_string_value(json_object_get(value, "CheckDigit"))))
        {
            return 1;
        }
        snprintf(why, why_len, "not {\"Identification\": one or two letters "
                 "and six digits, \"CheckDigit\": 0-9 or A}");
        return 0;

    case IAMS_ATYPE_EN_NAME:
    case IAMS_ATYPE_ZH_NAME:
        if (json_is_object(value)
            && iams_string_members(value,
                                   type == IAMS_ATYPE_EN_NAME ? en_keys
                                                              : zh_keys,
                                   why, why_len))
        {
            v = json_object_get(value, type == IAMS_ATYPE_EN_NAME
                                       ? "UnstructuredName" : "ChineseName");
            if (json_string_length(v) > 0) {
                return 1;
            }
        }
        snprintf(why, why_len, "not {\"%s\": non-empty string}",
                 type == IAMS_ATYPE_EN_NAME ? "UnstructuredName"
                                            : "ChineseName");
        return 0;

    case IAMS_ATYPE_PHONE:
        if (json_is_object(value)
            && iams_string_members(value, phone_keys, why, why_len)
            && iams_digits_string(json_object_get(value, "CountryCode"), 1, 4)
            && iams_digits_string(json_object_get(value, "SubscriberNumber"),
                                  4, 20))
        {
            return 1;
        }
        snprintf(why, why_len, "not {\"CountryCode\": 1-4 digits, "
                 "\"SubscriberNumber\": 4-20 digits}");
        return 0;

    case IAMS_ATYPE_ADDRESS:
        return iams_address_ok(value, why, why_len);

    case IAMS_ATYPE_OBJECT:
        if (json_is_object(value)) {
            return 1;
        }
        break;

    case IAMS_ATYPE_ARRAY:
        if (json_is_array(value)) {
            return 1;
        }
        break;

    default:
        break;
    }

    snprintf(why, why_len, "not a value of type %s",
             iams_adapter_type_name(type));
    return 0;
}
