/*
 * The session record: creation, expiry arithmetic, authentication methods,
 * and its sealed JSON form (see session.h for the format).
 *
 * If you add a member to the record, add it to iams_session_to_json and
 * iams_session_from_json both, with a bound; a member a version 1 reader
 * does not know is ignored, so older workers keep working during a rolling
 * upgrade, but a change of meaning needs "v":2.
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include <iamsmart/encoding.h>
#include <iamsmart/sealed.h>
#include <iamsmart/session.h>

#define IAMS_SESSION_SEAL_VERSION  "v1"
#define IAMS_TIME_MAX              ((int64_t) 1 << 40)

/* which characters a string member may hold */
#define IAMS_STR_NO_SPACE  0
#define IAMS_STR_SPACE     1


static int
iams_printable(const char *p, size_t len, int space)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        unsigned char  c = (unsigned char) p[i];

        if (c < 0x20 || c > 0x7e || (c == ' ' && !space)) {
            return 0;
        }
    }

    return 1;
}


static int
iams_amr_name_ok(const char *p, size_t len)
{
    size_t  i;

    if (len == 0 || len > IAMS_AMR_NAME_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9')
              || p[i] == '_'))
        {
            return 0;
        }
    }

    return 1;
}


static int
iams_time_ok(int64_t t)
{
    return t >= 0 && t <= IAMS_TIME_MAX;
}


/* Copies p[0..len) into a new NUL-terminated string after checking it. */
static iams_status
iams_session_strdup(char **dst, const char *p, size_t len, size_t min,
    size_t max, int space, const char *name, iams_err *err)
{
    char  *s;

    if (p == NULL) {
        p = "";
        len = 0;
    }

    if (len < min || len > max || !iams_printable(p, len, space)) {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "session %s empty, too long or not printable "
                            "ASCII", name);
    }

    s = malloc(len + 1);

    if (s == NULL) {
        return iams_err_set(err, IAMS_ERR_NOMEM, "out of memory");
    }

    memcpy(s, p, len);
    s[len] = '\0';
    *dst = s;

    return IAMS_OK;
}


static iams_session *
iams_session_alloc(iams_err *err)
{
    iams_session  *s;

    s = calloc(1, sizeof(*s));

    if (s == NULL) {
        iams_err_set(err, IAMS_ERR_NOMEM, "out of memory");
    }

    return s;
}


iams_status
iams_session_new(const iams_session_init *init, iams_session **out,
    iams_err *err)
{
    iams_status    rc;
    iams_session  *s;

    *out = NULL;

    if (!iams_time_ok(init->now) || !iams_time_ok(init->token_expires_at)
        || init->idle_timeout < 1
        || init->idle_timeout > IAMS_SESSION_TIMEOUT_MAX
        || init->max_lifetime < 1
        || init->max_lifetime > IAMS_SESSION_TIMEOUT_MAX)
    {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "session times out of range");
    }

    s = iams_session_alloc(err);

    if (s == NULL) {
        return IAMS_ERR_NOMEM;
    }

    rc = iams_session_strdup(&s->open_id, init->open_id, init->open_id_len,
                             1, IAMS_SESSION_OPENID_MAX, IAMS_STR_NO_SPACE,
                             "openID", err);

    if (rc == IAMS_OK) {
        rc = iams_session_strdup(&s->scope, init->scope, init->scope_len, 0,
                                 IAMS_SESSION_SCOPE_MAX, IAMS_STR_SPACE,
                                 "scope", err);
    }

    if (rc == IAMS_OK) {
        rc = iams_session_strdup(&s->acr, init->acr, init->acr_len, 0,
                                 IAMS_SESSION_ACR_MAX, IAMS_STR_NO_SPACE,
                                 "acr", err);
    }

    if (rc == IAMS_OK) {
        rc = iams_session_strdup(&s->user_type, init->user_type,
                                 init->user_type_len, 0,
                                 IAMS_SESSION_USER_TYPE_MAX, IAMS_STR_SPACE,
                                 "userType", err);
    }

    if (rc == IAMS_OK) {
        rc = iams_session_strdup(&s->access_token, init->access_token,
                                 init->access_token_len, 1,
                                 IAMS_SESSION_TOKEN_MAX, IAMS_STR_NO_SPACE,
                                 "access token", err);
    }

    if (rc != IAMS_OK) {
        iams_session_free(s);
        return rc;
    }

    s->token_expires_at = init->token_expires_at;
    s->auth_time = init->now;
    s->created = init->now;
    s->last_seen = init->now;
    s->idle_timeout = init->idle_timeout;
    s->expires_at = init->now + init->max_lifetime;

    memcpy(s->amr[0].method, "fido", sizeof("fido"));
    s->amr[0].time = init->now;
    s->namr = 1;

    *out = s;

    return IAMS_OK;
}


iams_status
iams_session_clone(const iams_session *s, iams_session **out, iams_err *err)
{
    iams_session  *c;

    *out = NULL;

    c = iams_session_alloc(err);

    if (c == NULL) {
        return IAMS_ERR_NOMEM;
    }

    *c = *s;
    c->open_id = NULL;
    c->scope = NULL;
    c->acr = NULL;
    c->user_type = NULL;
    c->access_token = NULL;

    c->open_id = strdup(s->open_id);
    c->scope = strdup(s->scope);
    c->acr = strdup(s->acr);
    c->user_type = strdup(s->user_type);
    c->access_token = strdup(s->access_token);

    if (c->open_id == NULL || c->scope == NULL || c->acr == NULL
        || c->user_type == NULL || c->access_token == NULL)
    {
        iams_session_free(c);
        return iams_err_set(err, IAMS_ERR_NOMEM, "out of memory");
    }

    *out = c;

    return IAMS_OK;
}


void
iams_session_free(iams_session *s)
{
    if (s == NULL) {
        return;
    }

    if (s->access_token != NULL) {
        OPENSSL_cleanse(s->access_token, strlen(s->access_token));
    }

    free(s->open_id);
    free(s->scope);
    free(s->acr);
    free(s->user_type);
    free(s->access_token);
    free(s);
}


int64_t
iams_session_ttl(const iams_session *s, int64_t now)
{
    int64_t  idle_left, abs_left;

    abs_left = s->expires_at - now;
    idle_left = s->last_seen + s->idle_timeout - now;

    if (abs_left <= 0 || idle_left <= 0) {
        return 0;
    }

    return idle_left < abs_left ? idle_left : abs_left;
}


iams_session_state
iams_session_touch(iams_session *s, int64_t now, int64_t *ttl)
{
    if (ttl != NULL) {
        *ttl = 0;
    }

    if (now >= s->expires_at) {
        return IAMS_SESSION_ABSOLUTE_EXPIRED;
    }

    if (now >= s->last_seen + s->idle_timeout) {
        return IAMS_SESSION_IDLE_EXPIRED;
    }

    if (now > s->last_seen) {
        s->last_seen = now;
    }

    if (ttl != NULL) {
        *ttl = iams_session_ttl(s, now);
    }

    return IAMS_SESSION_LIVE;
}


const char *
iams_session_state_str(iams_session_state st)
{
    switch (st) {
    case IAMS_SESSION_LIVE:
        return "live";
    case IAMS_SESSION_IDLE_EXPIRED:
        return "idle timeout";
    case IAMS_SESSION_ABSOLUTE_EXPIRED:
        return "absolute expiry";
    }

    return "unknown";
}


static iams_amr *
iams_session_find_amr(const iams_session *s, const char *method)
{
    size_t  i;

    for (i = 0; i < s->namr; i++) {
        if (strcmp(s->amr[i].method, method) == 0) {
            return (iams_amr *) &s->amr[i];
        }
    }

    return NULL;
}


iams_status
iams_session_add_amr(iams_session *s, const char *method, int64_t now,
    iams_err *err)
{
    size_t     len;
    iams_amr  *a;

    len = strnlen(method, IAMS_AMR_NAME_MAX + 1);

    if (!iams_amr_name_ok(method, len) || !iams_time_ok(now)) {
        return iams_err_set(err, IAMS_ERR_MALFORMED, "bad amr method");
    }

    a = iams_session_find_amr(s, method);

    if (a == NULL) {
        if (s->namr == IAMS_AMR_MAX) {
            return iams_err_set(err, IAMS_ERR_TOO_LARGE, "too many amr");
        }

        a = &s->amr[s->namr++];
        memcpy(a->method, method, len + 1);
    }

    a->time = now;

    return IAMS_OK;
}


int64_t
iams_session_amr_time(const iams_session *s, const char *method)
{
    const iams_amr  *a;

    a = iams_session_find_amr(s, method);

    return a ? a->time : 0;
}


int
iams_session_amr_fresh(const iams_session *s, const char *method,
    int64_t max_age, int64_t now)
{
    const iams_amr  *a;

    a = iams_session_find_amr(s, method);

    return a != NULL && a->time <= now && now - a->time <= max_age;
}


/* ---- JSON form ---- */

static json_t *
iams_session_to_json(const iams_session *s)
{
    size_t   i;
    json_t  *rec, *amr, *times;

    amr = json_array();
    times = json_object();

    for (i = 0; amr && times && i < s->namr; i++) {
        if (json_array_append_new(amr, json_string(s->amr[i].method)) != 0
            || json_object_set_new(times, s->amr[i].method,
                                   json_integer(s->amr[i].time)) != 0)
        {
            break;
        }
    }

    if (amr == NULL || times == NULL || i != s->namr) {
        json_decref(amr);
        json_decref(times);
        return NULL;
    }

    rec = json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:I, s:I,"
                    " s:I, s:I, s:s, s:I}",
                    "v", IAMS_SESSION_RECORD_VERSION,
                    "openID", s->open_id,
                    "scope", s->scope,
                    "acr", s->acr,
                    "userType", s->user_type,
                    "auth_time", (json_int_t) s->auth_time,
                    "amr", amr,
                    "amr_times", times,
                    "created", (json_int_t) s->created,
                    "last_seen", (json_int_t) s->last_seen,
                    "idle_timeout", (json_int_t) s->idle_timeout,
                    "expires_at", (json_int_t) s->expires_at,
                    "at", s->access_token,
                    "at_exp", (json_int_t) s->token_expires_at);

    return rec;
}


static iams_status
iams_json_int_member(const json_t *obj, const char *name, int64_t min,
    int64_t max, int64_t *out, iams_err *err)
{
    json_int_t     v;
    const json_t  *j;

    j = json_object_get(obj, name);

    if (!json_is_integer(j)) {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "session record: \"%s\" missing or not an "
                            "integer", name);
    }

    v = json_integer_value(j);

    if (v < min || v > max) {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "session record: \"%s\" out of range", name);
    }

    *out = (int64_t) v;

    return IAMS_OK;
}


static iams_status
iams_json_str_member(const json_t *obj, const char *name, size_t min,
    size_t max, int space, char **out, iams_err *err)
{
    const json_t  *j;

    j = json_object_get(obj, name);

    if (!json_is_string(j)) {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "session record: \"%s\" missing or not a string",
                            name);
    }

    return iams_session_strdup(out, json_string_value(j),
                               json_string_length(j), min, max, space, name,
                               err);
}


static iams_status
iams_session_amr_from_json(iams_session *s, const json_t *rec, iams_err *err)
{
    size_t         i;
    int64_t        t;
    const char    *name;
    const json_t  *amr, *times, *v;

    amr = json_object_get(rec, "amr");
    times = json_object_get(rec, "amr_times");

    if (!json_is_array(amr) || !json_is_object(times)
        || json_array_size(amr) > IAMS_AMR_MAX
        || json_object_size(times) != json_array_size(amr))
    {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "session record: bad \"amr\" or \"amr_times\"");
    }

    json_array_foreach(amr, i, v) {
        name = json_string_value(v);

        if (name == NULL
            || !iams_amr_name_ok(name, json_string_length(v))
            || iams_session_find_amr(s, name) != NULL
            || iams_json_int_member(times, name, 0, IAMS_TIME_MAX, &t, err)
               != IAMS_OK)
        {
            return iams_err_set(err, IAMS_ERR_MALFORMED,
                                "session record: bad amr entry %zu", i);
        }

        memcpy(s->amr[i].method, name, json_string_length(v) + 1);
        s->amr[i].time = t;
        s->namr = i + 1;
    }

    return IAMS_OK;
}


static iams_status
iams_session_from_json(iams_session *s, const json_t *rec, iams_err *err)
{
    int64_t  v;

    if (iams_json_int_member(rec, "v", IAMS_SESSION_RECORD_VERSION,
                             IAMS_SESSION_RECORD_VERSION, &v, err) != IAMS_OK
        || iams_json_str_member(rec, "openID", 1, IAMS_SESSION_OPENID_MAX,
                                IAMS_STR_NO_SPACE, &s->open_id, err)
           != IAMS_OK
        || iams_json_str_member(rec, "scope", 0, IAMS_SESSION_SCOPE_MAX,
                                IAMS_STR_SPACE, &s->scope, err) != IAMS_OK
        || iams_json_str_member(rec, "acr", 0, IAMS_SESSION_ACR_MAX,
                                IAMS_STR_NO_SPACE, &s->acr, err) != IAMS_OK
        || iams_json_str_member(rec, "userType", 0,
                                IAMS_SESSION_USER_TYPE_MAX, IAMS_STR_SPACE,
                                &s->user_type, err) != IAMS_OK
        || iams_json_str_member(rec, "at", 1, IAMS_SESSION_TOKEN_MAX,
                                IAMS_STR_NO_SPACE, &s->access_token, err)
           != IAMS_OK
        || iams_json_int_member(rec, "at_exp", 0, IAMS_TIME_MAX,
                                &s->token_expires_at, err) != IAMS_OK
        || iams_json_int_member(rec, "auth_time", 0, IAMS_TIME_MAX,
                                &s->auth_time, err) != IAMS_OK
        || iams_json_int_member(rec, "created", 0, IAMS_TIME_MAX,
                                &s->created, err) != IAMS_OK
        || iams_json_int_member(rec, "last_seen", s->created, IAMS_TIME_MAX,
                                &s->last_seen, err) != IAMS_OK
        || iams_json_int_member(rec, "idle_timeout", 1,
                                IAMS_SESSION_TIMEOUT_MAX, &s->idle_timeout,
                                err) != IAMS_OK
        || iams_json_int_member(rec, "expires_at", s->created + 1,
                                s->created + IAMS_SESSION_TIMEOUT_MAX,
                                &s->expires_at, err) != IAMS_OK)
    {
        return IAMS_ERR_MALFORMED;
    }

    return iams_session_amr_from_json(s, rec, err);
}


iams_status
iams_session_encode(const iams_session *s, const iams_keyring *kr,
    const char *redis_key, size_t key_len, char **out, size_t *out_len,
    iams_err *err)
{
    char         *buf;
    size_t        n;
    json_t       *rec;
    iams_status   rc;

    *out = NULL;
    *out_len = 0;

    rec = iams_session_to_json(s);

    if (rec == NULL) {
        return iams_err_set(err, IAMS_ERR_NOMEM, "session record: no memory");
    }

    n = json_dumpb(rec, NULL, 0, JSON_COMPACT);
    buf = n > 0 && n <= IAMS_SESSION_JSON_MAX ? malloc(n) : NULL;

    if (buf == NULL || json_dumpb(rec, buf, n, JSON_COMPACT) != n) {
        json_decref(rec);
        free(buf);
        return iams_err_set(err, n > IAMS_SESSION_JSON_MAX ? IAMS_ERR_TOO_LARGE
                                                          : IAMS_ERR_NOMEM,
                            "session record cannot be serialized");
    }

    json_decref(rec);

    rc = iams_seal(kr, IAMS_KEY_SESSION_RECORD, IAMS_SESSION_SEAL_VERSION,
                   (const unsigned char *) redis_key, key_len,
                   (const unsigned char *) buf, n, out, out_len, err);

    OPENSSL_cleanse(buf, n);
    free(buf);

    return rc;
}


iams_status
iams_session_decode(const iams_keyring *kr, const char *redis_key,
    size_t key_len, const char *in, size_t in_len, iams_session **out,
    iams_err *err)
{
    size_t          n;
    json_t         *rec;
    iams_status     rc;
    iams_session   *s;
    unsigned char  *buf;

    *out = NULL;

    if (in_len > IAMS_SESSION_SEALED_MAX) {
        return iams_err_set(err, IAMS_ERR_TOO_LARGE,
                            "session record larger than %d bytes",
                            IAMS_SESSION_SEALED_MAX);
    }

    rc = iams_unseal(kr, IAMS_KEY_SESSION_RECORD, IAMS_SESSION_SEAL_VERSION,
                     (const unsigned char *) redis_key, key_len, in, in_len,
                     IAMS_SESSION_JSON_MAX, &buf, &n, err);

    if (rc != IAMS_OK) {
        return rc;
    }

    rec = iams_json_parse_object((const char *) buf, n, IAMS_SESSION_JSON_MAX,
                                 err);
    OPENSSL_cleanse(buf, n);
    free(buf);

    if (rec == NULL) {
        return IAMS_ERR_JSON;
    }

    s = iams_session_alloc(err);
    rc = s ? iams_session_from_json(s, rec, err) : IAMS_ERR_NOMEM;
    json_decref(rec);

    if (rc != IAMS_OK) {
        iams_session_free(s);
        return rc;
    }

    *out = s;

    return IAMS_OK;
}
