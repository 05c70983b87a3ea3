/*
 * Checks an adapter's describe output at load time and builds the indexes
 * that calls use (which data sets and forms exist, which fields they have).
 *
 * The check is strict: unknown members are refused (a typo such as
 * "age_group" would otherwise silently drop a service from the catalogue),
 * every name must have both languages, themes and age groups come from the
 * fixed vocabulary (adapter_vocab.c), ids carry the department's prefix, and
 * references between services, forms and data sets resolve.  Messages give
 * the JSON position ("services[2].themes[0]") so that a department can fix
 * its adapter from the `nginx -t` line alone.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iamsmart/encoding.h>

#include "adapter_internal.h"


#define IAMS_DESCRIBE_ITEMS_MAX   64       /* services, data sets, forms */
#define IAMS_DESCRIBE_FIELDS_MAX  256      /* fields of one item */

typedef struct {
    char        *why;
    size_t       why_len;
    const char  *prefix;                   /* lower-case department code */
} iams_describe_ctx;


static int iams_describe_fail(iams_describe_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


static int
iams_describe_fail(iams_describe_ctx *c, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    (void) vsnprintf(c->why, c->why_len, fmt, ap);
    va_end(ap);

    return 0;
}


/* obj is an object whose members are all in keys (NULL-terminated) */
static int
iams_describe_members(iams_describe_ctx *c, const char *where,
    const json_t *obj, const char *const *keys)
{
    size_t       i;
    const char  *key;
    json_t      *v;

    if (!json_is_object(obj)) {
        return iams_describe_fail(c, "%s: not an object", where);
    }

    json_object_foreach((json_t *) obj, key, v) {
        for (i = 0; keys[i] != NULL; i++) {
            if (strcmp(keys[i], key) == 0) {
                break;
            }
        }

        if (keys[i] == NULL) {
            return iams_describe_fail(c, "%s: unknown member \"%.32s\"",
                                      where, key);
        }
    }

    return 1;
}


static int
iams_describe_name(iams_describe_ctx *c, const char *where,
    const json_t *item)
{
    char  why[128];

    if (!iams_adapter_bilingual_ok(json_object_get(item, "name"), why,
                                   sizeof(why)))
    {
        return iams_describe_fail(c, "%s.name: %s", where, why);
    }

    return 1;
}


/* An array of 1..max members (0..max when optional). */
static int
iams_describe_array(iams_describe_ctx *c, const char *where,
    const json_t *v, size_t max, int optional)
{
    if (v == NULL && optional) {
        return 1;
    }

    if (!json_is_array(v) || json_array_size(v) > max
        || (!optional && json_array_size(v) == 0))
    {
        return iams_describe_fail(c, "%s: must be an array of %s to %zu "
                                  "entries", where, optional ? "0" : "1",
                                  max);
    }

    return 1;
}


/* The item's "id": well formed, with the department's prefix, and not
 * already a key of index. */
static const char *
iams_describe_id(iams_describe_ctx *c, const char *where, const json_t *item,
    const json_t *index)
{
    const char  *id;

    id = json_string_value(json_object_get(item, "id"));

    if (id == NULL || !iams_adapter_id_ok(id, c->prefix)) {
        iams_describe_fail(c, "%s.id: must be \"%s.<name>\" with <name> of "
                           "a-z, 0-9 and _", where, c->prefix);
        return NULL;
    }

    if (json_object_get(index, id) != NULL) {
        iams_describe_fail(c, "%s.id: \"%s\" is declared twice", where, id);
        return NULL;
    }

    return id;
}


static int
iams_describe_datasets(iams_describe_ctx *c, const json_t *list,
    json_t *index)
{
    static const char *const  keys[] = {
        "id", "name", "description", "fields", NULL
    };
    static const char *const  field_keys[] = {
        "name", "type", "required", "description", NULL
    };

    int                                 type;
    char                                where[96], fwhere[128];
    size_t                              i, j, plen;
    json_t                             *ds, *fields, *f, *entry, *byname;
    json_t                             *required, *v;
    const char                         *id, *name;
    const iams_adapter_platform_field  *pf;

    if (!iams_describe_array(c, "datasets", list, IAMS_DESCRIBE_ITEMS_MAX,
                             1))
    {
        return 0;
    }

    json_array_foreach(list, i, ds) {
        snprintf(where, sizeof(where), "datasets[%zu]", i);

        if (!iams_describe_members(c, where, ds, keys)
            || (id = iams_describe_id(c, where, ds, index)) == NULL
            || !iams_describe_name(c, where, ds))
        {
            return 0;
        }

        snprintf(where, sizeof(where), "datasets[%zu].fields", i);
        fields = json_object_get(ds, "fields");

        if (!iams_describe_array(c, where, fields, IAMS_DESCRIBE_FIELDS_MAX,
                                 0))
        {
            return 0;
        }

        byname = json_object();
        required = json_array();
        entry = json_pack("{soso}", "fields", byname, "required", required);

        if (entry == NULL || json_object_set_new(index, id, entry) != 0) {
            json_decref(entry);
            return iams_describe_fail(c, "out of memory");
        }

        plen = strlen(id);

        json_array_foreach(fields, j, f) {
            snprintf(fwhere, sizeof(fwhere), "%s[%zu]", where, j);

            if (!iams_describe_members(c, fwhere, f, field_keys)) {
                return 0;
            }

            name = json_string_value(json_object_get(f, "name"));
            pf = name ? iams_adapter_platform_field_find(name) : NULL;

            if (name == NULL
                || (pf == NULL
                    && (strncmp(name, id, plen) != 0 || name[plen] != '.'
                        || !iams_adapter_dataset_field_ok(name))))
            {
                return iams_describe_fail(c, "%s.name: must be an iAM Smart "
                                          "profile or e-ME field name, or "
                                          "\"%s.<field>\" with <field> of "
                                          "a-z, 0-9 and _", fwhere, id);
            }

            if (json_object_get(byname, name) != NULL) {
                return iams_describe_fail(c, "%s.name: \"%s\" is declared "
                                          "twice", fwhere, name);
            }

            v = json_object_get(f, "type");
            type = json_is_string(v)
                   ? iams_adapter_type_find(json_string_value(v)) : -1;

            if (type < 0) {
                return iams_describe_fail(c, "%s.type: unknown type (known: "
                                          "string date datetime integer "
                                          "number boolean flag hkid en_name "
                                          "zh_name phone address object "
                                          "array)", fwhere);
            }

            if (pf != NULL && (iams_adapter_type) type != pf->type) {
                return iams_describe_fail(c, "%s.type: %s is of type %s",
                                          fwhere, name,
                                          iams_adapter_type_name(pf->type));
            }

            v = json_object_get(f, "required");
            if (v != NULL && !json_is_boolean(v)) {
                return iams_describe_fail(c, "%s.required: not a boolean",
                                          fwhere);
            }

            if (json_is_true(v)
                && json_array_append_new(required, json_string(name)) != 0)
            {
                return iams_describe_fail(c, "out of memory");
            }

            if (json_object_set(byname, name, f) != 0) {
                return iams_describe_fail(c, "out of memory");
            }
        }
    }

    return 1;
}


static int
iams_describe_form_field_name_ok(const char *s)
{
    size_t  i;

    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) {
        return 0;
    }

    for (i = 1; s[i] != '\0'; i++) {
        if (i == 64
            || !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
                 || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'
                 || s[i] == '.' || s[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


/* Appends s to arr unless it is there already. */
static int
iams_describe_add_unique(json_t *arr, const char *s)
{
    size_t   i;
    json_t  *v;

    json_array_foreach(arr, i, v) {
        if (strcmp(json_string_value(v), s) == 0) {
            return 0;
        }
    }

    return json_array_append_new(arr, json_string(s));
}


/* What the gateway gathers for a form: see iams_adapter_form_inputs. */
static int
iams_describe_form_inputs(iams_describe_ctx *c, const json_t *fields,
    json_t *entry)
{
    int                                 rc;
    char                               *text, ds[96];
    size_t                              i, j;
    json_t                             *inputs, *profile, *eme, *datasets;
    json_t                             *f, *from, *name;
    const char                         *n, *dot;
    const iams_adapter_platform_field  *pf;

    profile = json_array();
    eme = json_array();
    datasets = json_array();
    inputs = json_pack("{sososo}", "profileFields", profile, "eMEFields",
                       eme, "datasets", datasets);
    if (inputs == NULL) {
        return iams_describe_fail(c, "out of memory");
    }

    rc = 0;

    json_array_foreach(fields, i, f) {
        from = json_object_get(f, "from");

        json_array_foreach(from, j, name) {
            n = json_string_value(name);
            pf = iams_adapter_platform_field_find(n);

            if (pf != NULL) {
                rc |= iams_describe_add_unique(pf->profile ? profile : eme,
                                               n);
                continue;
            }

            dot = strrchr(n, '.');
            snprintf(ds, sizeof(ds), "%.*s", (int) (dot - n), n);
            rc |= iams_describe_add_unique(datasets, ds);
        }
    }

    text = json_dumps(inputs, JSON_COMPACT);
    json_decref(inputs);

    if (rc != 0 || text == NULL
        || json_object_set_new(entry, "inputs", json_string(text)) != 0)
    {
        free(text);
        return iams_describe_fail(c, "out of memory");
    }

    free(text);

    return 1;
}


static int
iams_describe_forms(iams_describe_ctx *c, const json_t *list, json_t *index)
{
    static const char *const  keys[] = {
        "id", "name", "description", "service", "fields", NULL
    };
    static const char *const  field_keys[] = {
        "name", "type", "from", "required", "description", NULL
    };
    static const char *const  form_types[] = {
        "string", "integer", "number", "boolean", "object", "array", NULL
    };

    char         where[96], fwhere[128];
    size_t       i, j, k;
    json_t      *form, *fields, *f, *entry, *byname, *v, *from;
    const char  *id, *name, *s;

    if (!iams_describe_array(c, "forms", list, IAMS_DESCRIBE_ITEMS_MAX, 1)) {
        return 0;
    }

    json_array_foreach(list, i, form) {
        snprintf(where, sizeof(where), "forms[%zu]", i);

        if (!iams_describe_members(c, where, form, keys)
            || (id = iams_describe_id(c, where, form, index)) == NULL
            || !iams_describe_name(c, where, form))
        {
            return 0;
        }

        if (!json_is_string(json_object_get(form, "service"))) {
            return iams_describe_fail(c, "%s.service: must name the service "
                                      "the form belongs to", where);
        }

        snprintf(where, sizeof(where), "forms[%zu].fields", i);
        fields = json_object_get(form, "fields");

        if (!iams_describe_array(c, where, fields, IAMS_DESCRIBE_FIELDS_MAX,
                                 0))
        {
            return 0;
        }

        byname = json_object();
        entry = json_pack("{so}", "fields", byname);

        if (entry == NULL || json_object_set_new(index, id, entry) != 0) {
            json_decref(entry);
            return iams_describe_fail(c, "out of memory");
        }

        json_array_foreach(fields, j, f) {
            snprintf(fwhere, sizeof(fwhere), "%s[%zu]", where, j);

            if (!iams_describe_members(c, fwhere, f, field_keys)) {
                return 0;
            }

            name = json_string_value(json_object_get(f, "name"));

            if (name == NULL || !iams_describe_form_field_name_ok(name)) {
                return iams_describe_fail(c, "%s.name: must be 1 to 64 of "
                                          "A-Z, a-z, 0-9, _, . and -, "
                                          "starting with a letter", fwhere);
            }

            if (json_object_get(byname, name) != NULL) {
                return iams_describe_fail(c, "%s.name: \"%s\" is declared "
                                          "twice", fwhere, name);
            }

            s = json_string_value(json_object_get(f, "type"));

            for (k = 0; s != NULL && form_types[k] != NULL; k++) {
                if (strcmp(form_types[k], s) == 0) {
                    break;
                }
            }

            if (s == NULL || form_types[k] == NULL) {
                return iams_describe_fail(c, "%s.type: must be one of string "
                                          "integer number boolean object "
                                          "array", fwhere);
            }

            from = json_object_get(f, "from");

            if (from != NULL
                && !iams_describe_array(c, fwhere, from, 8, 0))
            {
                return 0;
            }

            json_array_foreach(from, k, v) {
                if (!json_is_string(v)
                    || !iams_adapter_canonical_name_ok(json_string_value(v)))
                {
                    return iams_describe_fail(c, "%s.from[%zu]: not a "
                                              "canonical field name",
                                              fwhere, k);
                }
            }

            v = json_object_get(f, "required");
            if (v != NULL && !json_is_boolean(v)) {
                return iams_describe_fail(c, "%s.required: not a boolean",
                                          fwhere);
            }

            if (json_object_set(byname, name, f) != 0) {
                return iams_describe_fail(c, "out of memory");
            }
        }

        if (!iams_describe_form_inputs(c, fields, entry)) {
            return 0;
        }
    }

    return 1;
}


/* A list of distinct vocabulary ids. */
static int
iams_describe_terms(iams_describe_ctx *c, const char *where,
    const json_t *list, const iams_adapter_term *terms, size_t nterms,
    const char *what)
{
    char         known[256];
    size_t       i, j, n;
    json_t      *v;
    const char  *s;

    if (!iams_describe_array(c, where, list, nterms, 0)) {
        return 0;
    }

    json_array_foreach(list, i, v) {
        s = json_string_value(v);

        if (s == NULL || iams_adapter_term_find(terms, nterms, s) < 0) {
            n = 0;
            known[0] = '\0';

            for (j = 0; j < nterms && n < sizeof(known); j++) {
                n += snprintf(known + n, sizeof(known) - n, "%s%s",
                              j ? " " : "", terms[j].id);
            }

            return iams_describe_fail(c, "%s[%zu]: unknown %s \"%.32s\" "
                                      "(known: %s)", where, i, what,
                                      s ? s : "?", known);
        }

        for (j = 0; j < i; j++) {
            if (strcmp(json_string_value(json_array_get(list, j)), s) == 0) {
                return iams_describe_fail(c, "%s[%zu]: \"%s\" is listed "
                                          "twice", where, i, s);
            }
        }
    }

    return 1;
}


/* Every member of list names a key of index. */
static int
iams_describe_refs(iams_describe_ctx *c, const char *where,
    const json_t *list, const json_t *index, const char *what)
{
    size_t       i;
    json_t      *v;
    const char  *s;

    if (!iams_describe_array(c, where, list, IAMS_DESCRIBE_ITEMS_MAX, 1)) {
        return 0;
    }

    json_array_foreach(list, i, v) {
        s = json_string_value(v);

        if (s == NULL || json_object_get(index, s) == NULL) {
            return iams_describe_fail(c, "%s[%zu]: no %s \"%.64s\" is "
                                      "declared", where, i, what,
                                      s ? s : "?");
        }
    }

    return 1;
}


static int
iams_describe_services(iams_describe_ctx *c, const json_t *list,
    const json_t *datasets, const json_t *forms, json_t *services)
{
    static const char *const  keys[] = {
        "id", "name", "description", "themes", "age_groups", "forms",
        "datasets", "annex", "url", NULL
    };

    char         where[64], what[96];
    size_t       i;
    json_t      *svc, *v;
    const char  *id, *s;

    if (!iams_describe_array(c, "services", list, IAMS_DESCRIBE_ITEMS_MAX,
                             0))
    {
        return 0;
    }

    json_array_foreach(list, i, svc) {
        snprintf(where, sizeof(where), "services[%zu]", i);

        if (!iams_describe_members(c, where, svc, keys)
            || (id = iams_describe_id(c, where, svc, services)) == NULL
            || !iams_describe_name(c, where, svc))
        {
            return 0;
        }

        if (json_object_set_new(services, id, json_true()) != 0) {
            return iams_describe_fail(c, "out of memory");
        }

        snprintf(what, sizeof(what), "%s.themes", where);
        if (!iams_describe_terms(c, what, json_object_get(svc, "themes"),
                                 iams_adapter_themes, IAMS_ADAPTER_NTHEME,
                                 "theme"))
        {
            return 0;
        }

        snprintf(what, sizeof(what), "%s.age_groups", where);
        if (!iams_describe_terms(c, what, json_object_get(svc, "age_groups"),
                                 iams_adapter_age_groups,
                                 IAMS_ADAPTER_NAGE_GROUP, "age group"))
        {
            return 0;
        }

        snprintf(what, sizeof(what), "%s.forms", where);
        if (!iams_describe_refs(c, what, json_object_get(svc, "forms"),
                                forms, "form"))
        {
            return 0;
        }

        snprintf(what, sizeof(what), "%s.datasets", where);
        if (!iams_describe_refs(c, what, json_object_get(svc, "datasets"),
                                datasets, "data set"))
        {
            return 0;
        }

        v = json_object_get(svc, "annex");
        if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 1
                          || json_integer_value(v) > 999))
        {
            return iams_describe_fail(c, "%s.annex: must be the service's "
                                      "number in the annex, 1 to 999", where);
        }

        v = json_object_get(svc, "url");
        s = json_string_value(v);
        if (v != NULL && (s == NULL || json_string_length(v) > 512
                          || strncmp(s, "https://", 8) != 0))
        {
            return iams_describe_fail(c, "%s.url: must be an https:// URL of "
                                      "at most 512 bytes", where);
        }
    }

    return 1;
}


int
iams_adapter_describe_check(iams_adapter *a, const char *text, size_t len,
    char *why, size_t why_len)
{
    static const char *const  keys[] = {
        "department", "services", "datasets", "forms", NULL
    };
    static const char *const  dept_keys[] = { "code", "name", NULL };

    char                prefix[16];
    size_t              i, n;
    json_t             *d, *dept, *services, *v;
    iams_err            err;
    const char         *code, *s;
    iams_describe_ctx   c;

    c.why = why;
    c.why_len = why_len;
    c.prefix = prefix;

    d = iams_json_parse_object(text, len, IAMS_ADAPTER_DESCRIBE_MAX, &err);
    if (d == NULL) {
        return iams_describe_fail(&c, "invalid JSON: %s", err.detail);
    }

    services = json_object();
    a->datasets = json_object();
    a->forms = json_object();

    if (services == NULL || a->datasets == NULL || a->forms == NULL) {
        iams_describe_fail(&c, "out of memory");
        goto failed;
    }

    if (!iams_describe_members(&c, "describe", d, keys)) {
        goto failed;
    }

    dept = json_object_get(d, "department");

    if (!iams_describe_members(&c, "department", dept, dept_keys)) {
        goto failed;
    }

    code = json_string_value(json_object_get(dept, "code"));
    n = code ? strlen(code) : 0;

    for (i = 0; i < n; i++) {
        if (!((code[i] >= 'a' && code[i] <= 'z')
              || (code[i] >= 'A' && code[i] <= 'Z')))
        {
            break;
        }

        prefix[i] = (char) (code[i] | 0x20);
    }

    if (n < 2 || n > 8 || i != n) {
        iams_describe_fail(&c, "department.code: must be 2 to 8 letters, "
                           "such as \"TD\" or \"ImmD\"");
        goto failed;
    }

    prefix[n] = '\0';

    if (a->table->department != NULL
        && strcmp(a->table->department, code) != 0)
    {
        iams_describe_fail(&c, "department.code: \"%s\" differs from the "
                           "adapter table's \"%.16s\"", code,
                           a->table->department);
        goto failed;
    }

    if (!iams_describe_name(&c, "department", dept)
        || !iams_describe_datasets(&c, json_object_get(d, "datasets"),
                                   a->datasets)
        || !iams_describe_forms(&c, json_object_get(d, "forms"), a->forms)
        || !iams_describe_services(&c, json_object_get(d, "services"),
                                   a->datasets, a->forms, services))
    {
        goto failed;
    }

    json_array_foreach(json_object_get(d, "forms"), i, v) {
        s = json_string_value(json_object_get(v, "service"));

        if (json_object_get(services, s) == NULL) {
            iams_describe_fail(&c, "forms[%zu].service: no service \"%.64s\" "
                               "is declared", i, s);
            goto failed;
        }
    }

    if (json_object_size(a->datasets) > 0
        && (IAMS_ADAPTER_HOOK(a->table, map_request) == NULL
            || IAMS_ADAPTER_HOOK(a->table, map_response) == NULL))
    {
        iams_describe_fail(&c, "declares data sets but lacks the "
                           "map_request or map_response hook");
        goto failed;
    }

    if (json_object_size(a->forms) > 0
        && IAMS_ADAPTER_HOOK(a->table, map_form) == NULL)
    {
        iams_describe_fail(&c, "declares forms but lacks the map_form hook");
        goto failed;
    }

    a->department = strdup(code);
    a->describe_text = json_dumps(d, JSON_COMPACT);

    if (a->department == NULL || a->describe_text == NULL) {
        iams_describe_fail(&c, "out of memory");
        goto failed;
    }

    a->describe_len = strlen(a->describe_text);
    a->describe = d;

    json_decref(services);

    return 1;

failed:

    json_decref(d);
    json_decref(services);

    return 0;
}
