
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * A request waiting for a Redis reply.
 *
 * The reply is copied into the request pool inside the Redis callback, and
 * the request resumes from a posted event (as limit_req's delay does), never
 * from inside the Redis read loop: resuming may queue new commands.  A pool
 * cleanup cancels the command and the posted event if the request dies
 * first, so a late reply never touches freed memory.
 */


#include "ngx_http_iamsmart.h"


static void ngx_http_iamsmart_wait_reply(void *data, redisReply *reply,
    const char *error);
static void ngx_http_iamsmart_wait_resume(ngx_event_t *ev);
static void ngx_http_iamsmart_wait_cleanup(void *data);
static ngx_int_t ngx_http_iamsmart_copy_str(ngx_pool_t *pool,
    redisReply *reply, ngx_str_t *str);


ngx_int_t
ngx_http_iamsmart_redis_call(ngx_http_request_t *r,
    ngx_http_iamsmart_redis_wait_t *w, int argc, const char **argv,
    const size_t *argvlen)
{
    ngx_int_t            rc;
    ngx_pool_cleanup_t  *cln;

    if (!w->cleanup_added) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_iamsmart_wait_cleanup;
        cln->data = w;
        w->cleanup_added = 1;
    }

    w->request = r;
    w->done = 0;
    w->error = NULL;
    w->type = 0;
    w->integer = 0;
    ngx_str_null(&w->str);
    w->elements = NULL;
    w->nelements = 0;

    if (w->resume == NULL) {
        w->resume = ngx_http_core_run_phases;
    }

    rc = ngx_http_iamsmart_redis_command(argc, argv, argvlen,
                                         ngx_http_iamsmart_wait_reply, w,
                                         &w->cmd);
    if (rc != NGX_OK) {
        w->cmd = NULL;
        return rc;
    }

    w->waiting = 1;

    return NGX_AGAIN;
}


ngx_int_t
ngx_http_iamsmart_redis_await(ngx_http_request_t *r,
    ngx_http_iamsmart_redis_wait_t *w, int argc, const char **argv,
    const size_t *argvlen)
{
    ngx_int_t  rc;

    rc = ngx_http_iamsmart_redis_call(r, w, argc, argv, argvlen);

    if (rc == NGX_DECLINED) {
        return ngx_http_iamsmart_unavailable(r, "redis is down");
    }

    if (rc != NGX_AGAIN) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->main->count++;

    return NGX_DONE;
}


/* SET key value EX ttl [NX|XX], ready for the calls below */
void
ngx_http_iamsmart_set_cmd(ngx_http_iamsmart_set_cmd_t *cmd, const char *key,
    size_t key_len, const char *value, size_t value_len, int64_t ttl,
    const char *cond)
{
    cmd->argv[0] = "SET";
    cmd->argvlen[0] = 3;
    cmd->argv[1] = key;
    cmd->argvlen[1] = key_len;
    cmd->argv[2] = value;
    cmd->argvlen[2] = value_len;
    cmd->argv[3] = "EX";
    cmd->argvlen[3] = 2;
    cmd->argv[4] = (char *) cmd->ttl;
    cmd->argvlen[4] = ngx_sprintf(cmd->ttl, "%L", ttl) - cmd->ttl;
    cmd->argc = 5;

    if (cond != NULL) {
        cmd->argv[5] = cond;
        cmd->argvlen[5] = 2;
        cmd->argc = 6;
    }
}


/* fire and forget: the reply is read and dropped */
ngx_int_t
ngx_http_iamsmart_redis_send(int argc, const char **argv,
    const size_t *argvlen)
{
    return ngx_http_iamsmart_redis_command(argc, argv, argvlen, NULL, NULL,
                                           NULL);
}


static void
ngx_http_iamsmart_wait_reply(void *data, redisReply *reply, const char *error)
{
    ngx_http_iamsmart_redis_wait_t *w = data;

    size_t               i;
    ngx_http_request_t  *r;

    r = w->request;
    w->cmd = NULL;
    w->waiting = 0;
    w->done = 1;

    if (reply == NULL) {
        w->error = error;

    } else {
        w->type = reply->type;
        w->integer = reply->integer;

        if (ngx_http_iamsmart_copy_str(r->pool, reply, &w->str) != NGX_OK) {
            w->error = "out of memory";
        }

        if (reply->type == REDIS_REPLY_ARRAY && reply->elements) {
            w->elements = ngx_pcalloc(r->pool,
                              reply->elements
                              * sizeof(ngx_http_iamsmart_redis_value_t));
            if (w->elements == NULL) {
                w->error = "out of memory";

            } else {
                w->nelements = reply->elements;

                for (i = 0; i < reply->elements; i++) {
                    w->elements[i].type = reply->element[i]->type;
                    w->elements[i].integer = reply->element[i]->integer;

                    if (ngx_http_iamsmart_copy_str(r->pool, reply->element[i],
                                                   &w->elements[i].str)
                        != NGX_OK)
                    {
                        w->error = "out of memory";
                    }
                }
            }
        }

        if (reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "iamsmart: redis error reply: %*s",
                          (size_t) ngx_min(reply->len, 200), reply->str);
            w->error = "error reply";
        }
    }

    w->event.handler = ngx_http_iamsmart_wait_resume;
    w->event.data = w;
    w->event.log = r->connection->log;

    ngx_post_event(&w->event, &ngx_posted_events);
}


static ngx_int_t
ngx_http_iamsmart_copy_str(ngx_pool_t *pool, redisReply *reply,
    ngx_str_t *str)
{
    if (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS
        && reply->type != REDIS_REPLY_ERROR)
    {
        ngx_str_null(str);
        return NGX_OK;
    }

    str->data = ngx_pnalloc(pool, reply->len + 1);
    if (str->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(str->data, reply->str, reply->len);
    str->data[reply->len] = '\0';
    str->len = reply->len;

    return NGX_OK;
}


static void
ngx_http_iamsmart_wait_resume(ngx_event_t *ev)
{
    ngx_http_iamsmart_redis_wait_t *w = ev->data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = w->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    w->resume(r);

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_iamsmart_wait_cleanup(void *data)
{
    ngx_http_iamsmart_redis_wait_t *w = data;

    if (w->cmd != NULL) {
        ngx_http_iamsmart_redis_cancel(w->cmd);
        w->cmd = NULL;
    }

    if (w->event.posted) {
        ngx_delete_posted_event(&w->event);
    }
}
