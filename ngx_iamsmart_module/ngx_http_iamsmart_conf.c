
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * Helpers for directive handlers: reading small secret files at
 * configuration time.
 */


#include "ngx_http_iamsmart.h"

#include <openssl/crypto.h>


#define NGX_HTTP_IAMSMART_SECRET_FILE_MAX  4096


static void ngx_http_iamsmart_cleanse(void *data);


typedef struct {
    u_char  *data;
    size_t   len;
} ngx_http_iamsmart_cleanse_t;


/*
 * Reads a secret (password, client secret) from a file into cf->pool,
 * trimming the trailing newline; the copy is wiped when the configuration
 * is released.  Errors name the file and the reason.
 */
ngx_int_t
ngx_http_iamsmart_read_secret_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *secret)
{
    u_char                       *buf;
    ssize_t                       n;
    ngx_fd_t                      fd;
    ngx_str_t                     path;
    ngx_file_info_t               fi;
    ngx_pool_cleanup_t           *cln;
    ngx_http_iamsmart_cleanse_t  *cl;

    path = *name;

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot open secret file \"%V\"", &path);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > NGX_HTTP_IAMSMART_SECRET_FILE_MAX)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%V\" is not a regular file of at "
                           "most %d bytes", &path,
                           NGX_HTTP_IAMSMART_SECRET_FILE_MAX);
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, sizeof(ngx_http_iamsmart_cleanse_t));
    buf = ngx_pnalloc(cf->pool, NGX_HTTP_IAMSMART_SECRET_FILE_MAX + 1);

    if (cln == NULL || buf == NULL) {
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    cl = cln->data;
    cl->data = buf;
    cl->len = NGX_HTTP_IAMSMART_SECRET_FILE_MAX + 1;
    cln->handler = ngx_http_iamsmart_cleanse;

    n = ngx_read_fd(fd, buf, NGX_HTTP_IAMSMART_SECRET_FILE_MAX);
    ngx_close_file(fd);

    if (n < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read secret file \"%V\"", &path);
        return NGX_ERROR;
    }

    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'
                     || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
    {
        n--;
    }

    if (n == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%V\" is empty", &path);
        return NGX_ERROR;
    }

    buf[n] = '\0';
    secret->data = buf;
    secret->len = n;

    return NGX_OK;
}


static void
ngx_http_iamsmart_cleanse(void *data)
{
    ngx_http_iamsmart_cleanse_t  *cl = data;

    OPENSSL_cleanse(cl->data, cl->len);
}
