/*
 * The service catalogue: the services of every loaded adapter, grouped by
 * life theme and age group, built from the describe output that the loader
 * has already checked.  Configuration is immutable at request time, so a
 * gateway builds it once per configuration and serves the same bytes.
 */

#include <stdlib.h>
#include <string.h>

#include "adapter_internal.h"


static json_t *
iams_catalogue_term(const iams_adapter_term *t, json_t *services)
{
    return json_pack("{s:s, s:{s:s, s:s}, s:O}", "id", t->id, "name", "en",
                     t->en, "zh-HK", t->zh, "services", services);
}


static int
iams_catalogue_lists(const json_t *list, const char *id)
{
    size_t   i;
    json_t  *v;

    json_array_foreach(list, i, v) {
        if (strcmp(json_string_value(v), id) == 0) {
            return 1;
        }
    }

    return 0;
}


/* Appends the groups of a vocabulary that hold services. */
static int
iams_catalogue_groups(json_t *groups, const iams_adapter_term *terms,
    size_t nterms, json_t *const *members)
{
    size_t   i;
    json_t  *g;

    for (i = 0; i < nterms; i++) {
        if (json_array_size(members[i]) == 0) {
            continue;
        }

        g = iams_catalogue_term(&terms[i], members[i]);

        if (g == NULL || json_array_append_new(groups, g) != 0) {
            return -1;
        }
    }

    return 0;
}


iams_adapter_status
iams_adapter_catalogue(iams_adapter *const *list, size_t n,
    const char *theme, const char *age_group, char **out, size_t *out_len,
    iams_adapter_diag *diag)
{
    int                  t;
    char                *text;
    size_t               i, j, k, before;
    json_t              *cat, *departments, *services, *seen, *svc, *entry;
    json_t              *dept, *v, *themes, *ages;
    json_t              *by_theme[IAMS_ADAPTER_NTHEME];
    json_t              *by_age[IAMS_ADAPTER_NAGE_GROUP];
    const char          *id;
    const iams_adapter  *a;
    iams_adapter_status  rc;

    *out = NULL;
    *out_len = 0;

    if (diag != NULL) {
        diag->usec = 0;
        diag->message[0] = '\0';
    }

    if (theme != NULL
        && iams_adapter_term_find(iams_adapter_themes, IAMS_ADAPTER_NTHEME,
                                  theme) < 0)
    {
        iams_adapter_diag_set(diag, "unknown theme \"%.32s\"", theme);
        return IAMS_ADAPTER_ERR_INVALID_INPUT;
    }

    if (age_group != NULL
        && iams_adapter_term_find(iams_adapter_age_groups,
                                  IAMS_ADAPTER_NAGE_GROUP, age_group) < 0)
    {
        iams_adapter_diag_set(diag, "unknown age group \"%.32s\"", age_group);
        return IAMS_ADAPTER_ERR_INVALID_INPUT;
    }

    rc = IAMS_ADAPTER_ERR_NOMEM;

    cat = json_object();
    departments = json_array();
    services = json_array();
    themes = json_array();
    ages = json_array();
    seen = json_object();

    for (i = 0; i < IAMS_ADAPTER_NTHEME; i++) {
        by_theme[i] = json_array();
    }

    for (i = 0; i < IAMS_ADAPTER_NAGE_GROUP; i++) {
        by_age[i] = json_array();
    }

    if (cat == NULL || departments == NULL || services == NULL
        || themes == NULL || ages == NULL || seen == NULL)
    {
        goto done;
    }

    for (i = 0; i < n; i++) {
        a = list[i];
        dept = json_object_get(a->describe, "department");
        before = json_array_size(services);

        json_array_foreach(json_object_get(a->describe, "services"), j, svc) {
            id = json_string_value(json_object_get(svc, "id"));

            /* the same service from two adapters: the first one wins */
            if (json_object_get(seen, id) != NULL
                || (theme != NULL
                    && !iams_catalogue_lists(json_object_get(svc, "themes"),
                                             theme))
                || (age_group != NULL
                    && !iams_catalogue_lists(json_object_get(svc,
                                                             "age_groups"),
                                             age_group)))
            {
                continue;
            }

            entry = json_deep_copy(svc);

            if (entry == NULL
                || json_object_set(entry, "department",
                                   json_object_get(dept, "code")) != 0
                || json_object_set_new(entry, "adapter",
                                       json_string(a->name)) != 0
                || (json_object_get(entry, "forms") == NULL
                    && json_object_set_new(entry, "forms", json_array()))
                || (json_object_get(entry, "datasets") == NULL
                    && json_object_set_new(entry, "datasets", json_array()))
                || json_array_append_new(services, entry) != 0
                || json_object_set_new(seen, id, json_true()) != 0)
            {
                goto done;
            }

            json_array_foreach(json_object_get(svc, "themes"), k, v) {
                t = iams_adapter_term_find(iams_adapter_themes,
                                           IAMS_ADAPTER_NTHEME,
                                           json_string_value(v));
                if (json_array_append_new(by_theme[t], json_string(id))) {
                    goto done;
                }
            }

            json_array_foreach(json_object_get(svc, "age_groups"), k, v) {
                t = iams_adapter_term_find(iams_adapter_age_groups,
                                           IAMS_ADAPTER_NAGE_GROUP,
                                           json_string_value(v));
                if (json_array_append_new(by_age[t], json_string(id))) {
                    goto done;
                }
            }

        }

        if (json_array_size(services) == before) {
            continue;
        }

        entry = json_pack("{s:O, s:O, s:s}", "code",
                          json_object_get(dept, "code"), "name",
                          json_object_get(dept, "name"), "adapter", a->name);

        if (entry == NULL || json_array_append_new(departments, entry) != 0) {
            goto done;
        }
    }

    if (iams_catalogue_groups(themes, iams_adapter_themes,
                              IAMS_ADAPTER_NTHEME, by_theme) != 0
        || iams_catalogue_groups(ages, iams_adapter_age_groups,
                                 IAMS_ADAPTER_NAGE_GROUP, by_age) != 0
        || json_object_set(cat, "departments", departments) != 0
        || json_object_set(cat, "services", services) != 0
        || json_object_set(cat, "themes", themes) != 0
        || json_object_set(cat, "age_groups", ages) != 0)
    {
        goto done;
    }

    text = json_dumps(cat, JSON_COMPACT);
    if (text == NULL) {
        goto done;
    }

    *out = text;
    *out_len = strlen(text);
    rc = IAMS_ADAPTER_OK;

done:

    if (rc != IAMS_ADAPTER_OK) {
        iams_adapter_diag_set(diag, "out of memory");
    }

    for (i = 0; i < IAMS_ADAPTER_NTHEME; i++) {
        json_decref(by_theme[i]);
    }

    for (i = 0; i < IAMS_ADAPTER_NAGE_GROUP; i++) {
        json_decref(by_age[i]);
    }

    json_decref(cat);
    json_decref(departments);
    json_decref(services);
    json_decref(themes);
    json_decref(ages);
    json_decref(seen);

    return rc;
}
