
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * Configuration of departments and of the gateway's signing keys:
 *
 *   iamsmart_signing_key path [kid=K] [alg=ES256];   (repeatable; the first
 *                                                     signs, all are published)
 *   iamsmart_issuer https://gateway.example;
 *   iamsmart_department TD {
 *       audience https://td.example.gov.hk;
 *       namespace td;                     # pairwise namespace, default NAME
 *       subject_header X-Iamsmart-Subject;
 *       assertion_header X-Iamsmart-Assertion;
 *       assertion_lifetime 60s;           # at most 60s
 *       backend /_dept/td;                # where adapters' requests go
 *       adapter td;                       # default: the one whose
 *                                         # department code is NAME
 *   }
 *   location / { iamsmart_bridge TD; }
 */


#include "ngx_http_iamsmart.h"


static char *ngx_http_iamsmart_department_item(ngx_conf_t *cf,
    ngx_command_t *dummy, void *conf);
static void ngx_http_iamsmart_jwk_cleanup(void *data);
static void ngx_http_iamsmart_jwks_free(void *data);
static char *ngx_http_iamsmart_department_client_keys(ngx_conf_t *cf,
    ngx_http_iamsmart_department_t *dept, ngx_str_t *name);


char *
ngx_http_iamsmart_department_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_iamsmart_main_conf_t *mcf = conf;

    char                            *rv;
    ngx_str_t                       *value;
    ngx_uint_t                       i;
    ngx_conf_t                       save;
    ngx_http_iamsmart_department_t  *dept;

    value = cf->args->elts;

    if (mcf->departments == NULL) {
        mcf->departments = ngx_array_create(cf->pool, 8,
                                   sizeof(ngx_http_iamsmart_department_t *));
        if (mcf->departments == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_http_iamsmart_find_department(mcf, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate department \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < value[1].len; i++) {
        if (!isalnum(value[1].data[i]) && value[1].data[i] != '_'
            && value[1].data[i] != '-')
        {
            return "needs a name of letters, digits, \"_\" and \"-\"";
        }
    }

    dept = ngx_pcalloc(cf->pool, sizeof(ngx_http_iamsmart_department_t));
    if (dept == NULL) {
        return NGX_CONF_ERROR;
    }

    dept->name = value[1];
    dept->assertion_lifetime = NGX_CONF_UNSET;

    save = *cf;
    cf->handler = ngx_http_iamsmart_department_item;
    cf->handler_conf = (char *) dept;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (dept->audience.len == 0) {
        dept->audience = dept->name;
    }

    if (dept->ns.len == 0) {
        dept->ns = dept->name;
    }

    if (dept->subject_header.len == 0) {
        ngx_str_set(&dept->subject_header, "X-Iamsmart-Subject");
    }

    if (dept->assertion_header.len == 0) {
        ngx_str_set(&dept->assertion_header, "X-Iamsmart-Assertion");
    }

    if (dept->assertion_lifetime == NGX_CONF_UNSET) {
        dept->assertion_lifetime = 60;
    }

    *(ngx_http_iamsmart_department_t **) ngx_array_push(mcf->departments)
        = dept;

    return NGX_CONF_OK;
}


static char *
ngx_http_iamsmart_department_item(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf)
{
    ngx_http_iamsmart_department_t  *dept;

    time_t      t;
    ngx_str_t  *value, *field;

    dept = (ngx_http_iamsmart_department_t *) cf->handler_conf;
    value = cf->args->elts;

    if (cf->args->nelts != 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" in iamsmart_department takes one value",
                           &value[0]);
        return NGX_CONF_ERROR;
    }

    if (ngx_strcmp(value[0].data, "assertion_lifetime") == 0) {
        t = ngx_parse_time(&value[1], 1);

        if (t == (time_t) NGX_ERROR || t < 1 || t > 60) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "assertion_lifetime must be 1s to 60s");
            return NGX_CONF_ERROR;
        }

        dept->assertion_lifetime = t;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[0].data, "client_keys") == 0) {
        return ngx_http_iamsmart_department_client_keys(cf, dept, &value[1]);
    }

    if (ngx_strcmp(value[0].data, "audience") == 0) {
        field = &dept->audience;

    } else if (ngx_strcmp(value[0].data, "namespace") == 0) {
        field = &dept->ns;

    } else if (ngx_strcmp(value[0].data, "subject_header") == 0) {
        field = &dept->subject_header;

    } else if (ngx_strcmp(value[0].data, "assertion_header") == 0) {
        field = &dept->assertion_header;

    } else if (ngx_strcmp(value[0].data, "adapter") == 0) {
        field = &dept->adapter_name;

    } else if (ngx_strcmp(value[0].data, "backend") == 0) {
        field = &dept->backend;

        if (value[1].len < 2 || value[1].data[0] != '/') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "backend must be a location prefix such as "
                               "/_dept/td");
            return NGX_CONF_ERROR;
        }

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown iamsmart_department setting \"%V\"",
                           &value[0]);
        return NGX_CONF_ERROR;
    }

    if (field->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "duplicate \"%V\"",
                           &value[0]);
        return NGX_CONF_ERROR;
    }

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "empty \"%V\"", &value[0]);
        return NGX_CONF_ERROR;
    }

    *field = value[1];

    return NGX_CONF_OK;
}


/* The keys a department signs its exchange credentials with (a JWKS, a
 * JWK, a PEM public key, or an oct secret the gateway issued). */
static char *
ngx_http_iamsmart_department_client_keys(ngx_conf_t *cf,
    ngx_http_iamsmart_department_t *dept, ngx_str_t *name)
{
    iams_err             err;
    ngx_str_t            path;
    ngx_pool_cleanup_t  *cln;

    if (dept->client_keys != NULL) {
        return "has client_keys twice";
    }

    path = *name;

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    if (iams_jwks_load_file((char *) path.data, &dept->client_keys, &err)
        != IAMS_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "iamsmart_department \"%V\": client_keys \"%V\": "
                           "%s%s%s", &dept->name, &path,
                           iams_status_str(err.status),
                           err.detail[0] ? ": " : "", err.detail);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_iamsmart_jwks_free;
    cln->data = dept->client_keys;

    return NGX_CONF_OK;
}


static void
ngx_http_iamsmart_jwks_free(void *data)
{
    iams_jwks_free(data);
}


ngx_http_iamsmart_department_t *
ngx_http_iamsmart_find_department(ngx_http_iamsmart_main_conf_t *mcf,
    ngx_str_t *name)
{
    ngx_uint_t                        i;
    ngx_http_iamsmart_department_t  **dept;

    if (mcf->departments == NULL) {
        return NULL;
    }

    dept = mcf->departments->elts;

    for (i = 0; i < mcf->departments->nelts; i++) {
        if (dept[i]->name.len == name->len
            && ngx_strncmp(dept[i]->name.data, name->data, name->len) == 0)
        {
            return dept[i];
        }
    }

    return NULL;
}


/* iamsmart_signing_key path [kid=K] [alg=ALG]; */
char *
ngx_http_iamsmart_signing_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_iamsmart_main_conf_t *mcf = conf;

    iams_err                          err;
    ngx_str_t                        *value, path, kid, alg;
    ngx_uint_t                        i;
    iams_jwk                         *jwk;
    const char                       *own_kid;
    ngx_pool_cleanup_t               *cln;
    ngx_http_iamsmart_signing_key_t  *key;

    value = cf->args->elts;
    path = value[1];
    ngx_str_null(&kid);
    ngx_str_null(&alg);

    for (i = 2; i < cf->args->nelts; i++) {
        if (ngx_strncmp(value[i].data, "kid=", 4) == 0 && value[i].len > 4) {
            kid.data = value[i].data + 4;
            kid.len = value[i].len - 4;

        } else if (ngx_strncmp(value[i].data, "alg=", 4) == 0) {
            alg.data = value[i].data + 4;
            alg.len = value[i].len - 4;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    if (iams_jwk_load_private_file((char *) path.data, &jwk, &err)
        != IAMS_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "iamsmart_signing_key \"%V\": %s%s%s", &path,
                           iams_status_str(err.status),
                           err.detail[0] ? ": " : "", err.detail);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_iamsmart_jwk_cleanup;
    cln->data = jwk;

    if (mcf->signing_keys == NULL) {
        mcf->signing_keys = ngx_array_create(cf->pool, 2,
                                       sizeof(ngx_http_iamsmart_signing_key_t));
        if (mcf->signing_keys == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    key = ngx_array_push(mcf->signing_keys);
    if (key == NULL) {
        return NGX_CONF_ERROR;
    }

    key->key = jwk;

    if (kid.len == 0) {
        own_kid = iams_jwk_kid(jwk);

        if (own_kid == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "iamsmart_signing_key \"%V\" has no kid: "
                               "add kid=... (departments select keys by kid)",
                               &path);
            return NGX_CONF_ERROR;
        }

        kid.data = (u_char *) own_kid;
        kid.len = ngx_strlen(own_kid);
    }

    key->kid = kid;

    if (alg.len) {
        key->alg = iams_alg_from_name((char *) alg.data, alg.len);

    } else {
        switch (iams_jwk_kty(jwk)) {
        case IAMS_KTY_EC:
            key->alg = IAMS_ALG_ES256;
            break;
        case IAMS_KTY_RSA:
            key->alg = IAMS_ALG_RS256;
            break;
        case IAMS_KTY_OKP:
            key->alg = IAMS_ALG_EDDSA;
            break;
        default:
            key->alg = IAMS_ALG_UNKNOWN;
        }
    }

    if (key->alg == IAMS_ALG_UNKNOWN
        || (IAMS_ALG_BIT(key->alg) & IAMS_ALG_SET_ASYMMETRIC) == 0
        || iams_jwk_check_alg(jwk, key->alg, 1, &err) != IAMS_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "iamsmart_signing_key \"%V\": the key cannot sign "
                           "with %s (an asymmetric algorithm that fits the "
                           "key is needed)", &path, iams_alg_name(key->alg));
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void
ngx_http_iamsmart_jwk_cleanup(void *data)
{
    iams_jwk_free(data);
}


/* The public JWKS, built once per configuration. */
ngx_int_t
ngx_http_iamsmart_build_jwks(ngx_conf_t *cf,
    ngx_http_iamsmart_main_conf_t *mcf)
{
    char                             *text;
    size_t                            len;
    json_t                           *keys, *jwk;
    ngx_uint_t                        i, j;
    ngx_http_iamsmart_signing_key_t  *key;

    if (mcf->signing_keys == NULL) {
        return NGX_OK;
    }

    key = mcf->signing_keys->elts;

    for (i = 0; i < mcf->signing_keys->nelts; i++) {
        for (j = 0; j < i; j++) {
            if (key[i].kid.len == key[j].kid.len
                && ngx_strncmp(key[i].kid.data, key[j].kid.data,
                               key[i].kid.len) == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "two iamsmart_signing_key with kid "
                                   "\"%V\"", &key[i].kid);
                return NGX_ERROR;
            }
        }
    }

    keys = json_array();
    if (keys == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < mcf->signing_keys->nelts; i++) {
        jwk = iams_jwk_to_json(key[i].key, 0);

        if (jwk == NULL
            || json_object_set_new(jwk, "kid",
                                   json_stringn((char *) key[i].kid.data,
                                                key[i].kid.len)) != 0
            || json_object_set_new(jwk, "use", json_string("sig")) != 0
            || json_object_set_new(jwk, "alg",
                                   json_string(iams_alg_name(key[i].alg)))
               != 0
            || json_array_append_new(keys, jwk) != 0)
        {
            json_decref(jwk);
            json_decref(keys);
            return NGX_ERROR;
        }
    }

    jwk = json_pack("{s:o}", "keys", keys);
    text = json_dumps(jwk, JSON_COMPACT);
    json_decref(jwk);

    if (text == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(text);

    mcf->jwks.data = ngx_pnalloc(cf->pool, len);
    if (mcf->jwks.data == NULL) {
        free(text);
        return NGX_ERROR;
    }

    ngx_memcpy(mcf->jwks.data, text, len);
    mcf->jwks.len = len;
    free(text);

    return NGX_OK;
}
