
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * Redis on nginx's event loop, one connection per worker.
 *
 * nginx owns the socket; hiredis only formats commands
 * (redisFormatCommandArgv) and parses replies (redisReader).  This avoids
 * the traps of hiredis's async adapter on 0.14 (fd ownership at cleanup, no
 * timer hook) and keeps every wait cancelable with nginx timers.
 *
 * Invariants:
 *   - commands are written in queue order and Redis answers in that order,
 *     so the head of "sent" always owns the next reply;
 *   - every queued command gets exactly one callback, never synchronously
 *     from ngx_http_iamsmart_redis_command(): with a reply, or with an error
 *     when the connection fails or the head command times out;
 *   - a timeout closes the connection: a late reply could otherwise be
 *     delivered to the wrong command;
 *   - after a failure the worker reconnects from a backoff timer; while it
 *     waits, new commands fail at once (the caller answers 503: an outage is
 *     an error, never a miss);
 *   - AUTH and SELECT are queued first on every new connection, before any
 *     command submitted while connecting.
 *
 * If you change the callback contract, also change the request waiters in
 * ngx_http_iamsmart_wait.c, which rely on "called once, later".
 */


#include "ngx_http_iamsmart.h"

#define NGX_HTTP_IAMSMART_REDIS_BACKOFF_MIN  50
#define NGX_HTTP_IAMSMART_REDIS_BACKOFF_MAX  2000
#define NGX_HTTP_IAMSMART_REDIS_READ_CHUNK   16384


typedef enum {
    NGX_HTTP_IAMSMART_REDIS_DOWN = 0,
    NGX_HTTP_IAMSMART_REDIS_CONNECTING,
    NGX_HTTP_IAMSMART_REDIS_UP
} ngx_http_iamsmart_redis_state_e;


struct ngx_http_iamsmart_redis_cmd_s {
    ngx_queue_t                         queue;
    ngx_http_iamsmart_redis_handler_pt  handler;  /* NULL once cancelled */
    void                               *data;
    ngx_msec_t                          deadline;
};


typedef struct {
    ngx_http_iamsmart_main_conf_t      *conf;
    ngx_log_t                          *log;
    ngx_log_t                           conn_log;  /* carries our action */
    ngx_http_iamsmart_redis_state_e     state;
    unsigned                            setup_refused:1;
    ngx_peer_connection_t               peer;
    ngx_connection_t                   *connection;
    redisReader                        *reader;

    ngx_queue_t                         sent;      /* awaiting replies */
    u_char                             *out;       /* bytes not yet written */
    size_t                              out_len;
    size_t                              out_size;

    ngx_event_t                         timeout;   /* head of "sent" */
    ngx_event_t                         reconnect;
    ngx_event_t                         flush;     /* posted: one send()
                                                      per event loop pass */
    unsigned                            exiting:1;
    ngx_msec_t                          backoff;
} ngx_http_iamsmart_redis_t;


static ngx_http_iamsmart_redis_t  *ngx_http_iamsmart_redis;


static void ngx_http_iamsmart_redis_connect(ngx_http_iamsmart_redis_t *rd);
static void ngx_http_iamsmart_redis_fail(ngx_http_iamsmart_redis_t *rd,
    const char *reason);
static void ngx_http_iamsmart_redis_read_handler(ngx_event_t *rev);
static void ngx_http_iamsmart_redis_write_handler(ngx_event_t *wev);
static void ngx_http_iamsmart_redis_flush(ngx_http_iamsmart_redis_t *rd);
static void ngx_http_iamsmart_redis_flush_handler(ngx_event_t *ev);
static void ngx_http_iamsmart_redis_timeout_handler(ngx_event_t *ev);
static void ngx_http_iamsmart_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_http_iamsmart_redis_arm_timeout(ngx_http_iamsmart_redis_t *rd);
static ngx_int_t ngx_http_iamsmart_redis_queue(ngx_http_iamsmart_redis_t *rd,
    int argc, const char **argv, const size_t *argvlen,
    ngx_http_iamsmart_redis_handler_pt handler, void *data,
    ngx_http_iamsmart_redis_cmd_t **cmdp);
static void ngx_http_iamsmart_redis_setup_reply(void *data,
    redisReply *reply, const char *error);


ngx_int_t
ngx_http_iamsmart_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_iamsmart_main_conf_t *mcf)
{
    ngx_http_iamsmart_redis_t  *rd;

    rd = ngx_calloc(sizeof(ngx_http_iamsmart_redis_t), cycle->log);
    if (rd == NULL) {
        return NGX_ERROR;
    }

    rd->conf = mcf;
    rd->log = cycle->log;
    rd->backoff = NGX_HTTP_IAMSMART_REDIS_BACKOFF_MIN;
    ngx_queue_init(&rd->sent);

    /* not cancelable: a worker shutting down after a reload waits for the
     * requests that wait on Redis (at most the command timeout) */
    rd->timeout.handler = ngx_http_iamsmart_redis_timeout_handler;
    rd->timeout.data = rd;
    rd->timeout.log = cycle->log;

    rd->reconnect.handler = ngx_http_iamsmart_redis_reconnect_handler;
    rd->reconnect.data = rd;
    rd->reconnect.log = cycle->log;
    rd->reconnect.cancelable = 1;

    rd->flush.handler = ngx_http_iamsmart_redis_flush_handler;
    rd->flush.data = rd;
    rd->flush.log = cycle->log;

    ngx_http_iamsmart_redis = rd;

    ngx_http_iamsmart_redis_connect(rd);

    return NGX_OK;
}


void
ngx_http_iamsmart_redis_exit_process(void)
{
    ngx_http_iamsmart_redis_t  *rd;

    rd = ngx_http_iamsmart_redis;
    if (rd == NULL) {
        return;
    }

    rd->exiting = 1;
    ngx_http_iamsmart_redis_fail(rd, "worker exiting");

    if (rd->reconnect.timer_set) {
        ngx_del_timer(&rd->reconnect);
    }

    ngx_free(rd->out);
    ngx_free(rd);
    ngx_http_iamsmart_redis = NULL;
}


ngx_int_t
ngx_http_iamsmart_redis_command(int argc, const char **argv,
    const size_t *argvlen, ngx_http_iamsmart_redis_handler_pt handler,
    void *data, ngx_http_iamsmart_redis_cmd_t **cmdp)
{
    ngx_http_iamsmart_redis_t  *rd;

    rd = ngx_http_iamsmart_redis;

    if (rd == NULL || rd->state == NGX_HTTP_IAMSMART_REDIS_DOWN) {
        return NGX_DECLINED;
    }

    return ngx_http_iamsmart_redis_queue(rd, argc, argv, argvlen, handler,
                                         data, cmdp);
}


void
ngx_http_iamsmart_redis_cancel(ngx_http_iamsmart_redis_cmd_t *cmd)
{
    /* the command stays queued to consume its reply */
    cmd->handler = NULL;
    cmd->data = NULL;
}


static ngx_int_t
ngx_http_iamsmart_redis_queue(ngx_http_iamsmart_redis_t *rd, int argc,
    const char **argv, const size_t *argvlen,
    ngx_http_iamsmart_redis_handler_pt handler, void *data,
    ngx_http_iamsmart_redis_cmd_t **cmdp)
{
    int                             len;
    char                           *formatted;
    u_char                         *out;
    size_t                          size;
    ngx_http_iamsmart_redis_cmd_t  *cmd;

    len = redisFormatCommandArgv(&formatted, argc, argv, argvlen);
    if (len < 0) {
        return NGX_ERROR;
    }

    if (rd->out_len + len > rd->out_size) {
        size = ngx_max(rd->out_size * 2, rd->out_len + len);
        size = ngx_max(size, 4096);

        out = ngx_alloc(size, rd->log);
        if (out == NULL) {
            redisFreeCommand(formatted);
            return NGX_ERROR;
        }

        if (rd->out_len) {
            ngx_memcpy(out, rd->out, rd->out_len);
        }

        ngx_free(rd->out);
        rd->out = out;
        rd->out_size = size;
    }

    cmd = ngx_alloc(sizeof(ngx_http_iamsmart_redis_cmd_t), rd->log);
    if (cmd == NULL) {
        redisFreeCommand(formatted);
        return NGX_ERROR;
    }

    ngx_memcpy(rd->out + rd->out_len, formatted, len);
    rd->out_len += len;
    redisFreeCommand(formatted);

    cmd->handler = handler;
    cmd->data = data;
    cmd->deadline = ngx_current_msec + rd->conf->redis_timeout;

    ngx_queue_insert_tail(&rd->sent, &cmd->queue);

    if (cmdp) {
        *cmdp = cmd;
    }

    if (!rd->timeout.timer_set) {
        ngx_http_iamsmart_redis_arm_timeout(rd);
    }

    /* commands queued in one pass of the event loop go out together */
    if (rd->state == NGX_HTTP_IAMSMART_REDIS_UP && !rd->flush.posted) {
        ngx_post_event(&rd->flush, &ngx_posted_events);
    }

    return NGX_OK;
}


static void
ngx_http_iamsmart_redis_connect(ngx_http_iamsmart_redis_t *rd)
{
    size_t                          n;
    ngx_int_t                       rc;
    const char                     *argv[3];
    size_t                          argvlen[3];
    ngx_connection_t               *c;
    ngx_http_iamsmart_main_conf_t  *mcf;

    mcf = rd->conf;

    ngx_memzero(&rd->peer, sizeof(ngx_peer_connection_t));
    rd->peer.sockaddr = mcf->redis_addr.sockaddr;
    rd->peer.socklen = mcf->redis_addr.socklen;
    rd->peer.name = &mcf->redis_addr.name;
    rd->peer.get = ngx_event_get_peer;
    rd->conn_log = *rd->log;
    rd->conn_log.action = "talking to redis";
    rd->peer.log = &rd->conn_log;
    rd->peer.log_error = NGX_ERROR_ERR;
    rd->setup_refused = 0;

    rd->reader = redisReaderCreate();
    if (rd->reader == NULL) {
        ngx_http_iamsmart_redis_fail(rd, "cannot create a reply reader");
        return;
    }

    rc = ngx_event_connect_peer(&rd->peer);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        ngx_http_iamsmart_redis_fail(rd, "connect() failed");
        return;
    }

    c = rd->peer.connection;
    c->data = rd;
    c->read->handler = ngx_http_iamsmart_redis_read_handler;
    c->write->handler = ngx_http_iamsmart_redis_write_handler;

    rd->connection = c;
    rd->state = NGX_HTTP_IAMSMART_REDIS_CONNECTING;

    /* a failed setup command makes every command after it pointless */
    n = 0;

    if (mcf->redis_password.len) {
        argv[0] = "AUTH";
        argvlen[0] = 4;
        argv[1] = (char *) mcf->redis_password.data;
        argvlen[1] = mcf->redis_password.len;
        n = 2;

        if (ngx_http_iamsmart_redis_queue(rd, n, argv, argvlen,
                                          ngx_http_iamsmart_redis_setup_reply,
                                          rd, NULL)
            != NGX_OK)
        {
            ngx_http_iamsmart_redis_fail(rd, "cannot queue AUTH");
            return;
        }
    }

    if (mcf->redis_db.len) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = (char *) mcf->redis_db.data;
        argvlen[1] = mcf->redis_db.len;

        if (ngx_http_iamsmart_redis_queue(rd, 2, argv, argvlen,
                                          ngx_http_iamsmart_redis_setup_reply,
                                          rd, NULL)
            != NGX_OK)
        {
            ngx_http_iamsmart_redis_fail(rd, "cannot queue SELECT");
            return;
        }
    }

    if (rc == NGX_OK) {
        ngx_http_iamsmart_redis_write_handler(c->write);
        return;
    }

    /* NGX_AGAIN: the connect timeout is the timeout of the first command */

    if (ngx_queue_empty(&rd->sent)) {
        ngx_add_timer(c->write, mcf->redis_timeout);
    }
}


static void
ngx_http_iamsmart_redis_setup_reply(void *data, redisReply *rr,
    const char *error)
{
    ngx_http_iamsmart_redis_t  *rd = data;

    if (error != NULL) {
        return;
    }

    if (rr->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "iamsmart: redis refused connection setup: %*s",
                      (size_t) ngx_min(rr->len, 200), rr->str);

        /* the read handler fails the connection after this reply */
        rd->setup_refused = 1;
    }
}


static void
ngx_http_iamsmart_redis_write_handler(ngx_event_t *wev)
{
    int                         err;
    socklen_t                   len;
    ngx_connection_t           *c;
    ngx_http_iamsmart_redis_t  *rd;

    c = wev->data;
    rd = c->data;

    if (wev->timedout) {
        ngx_http_iamsmart_redis_fail(rd, "connect timed out");
        return;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    if (rd->state == NGX_HTTP_IAMSMART_REDIS_CONNECTING) {
        err = 0;
        len = sizeof(int);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1)
        {
            err = ngx_socket_errno;
        }

        if (err) {
            ngx_log_error(NGX_LOG_ERR, rd->log, err,
                          "iamsmart: redis connect to %V failed",
                          rd->peer.name);
            ngx_http_iamsmart_redis_fail(rd, NULL);
            return;
        }

        rd->state = NGX_HTTP_IAMSMART_REDIS_UP;
        ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                      "iamsmart: redis connected to %V", rd->peer.name);
    }

    ngx_http_iamsmart_redis_flush(rd);
}


static void
ngx_http_iamsmart_redis_flush(ngx_http_iamsmart_redis_t *rd)
{
    ssize_t            n;
    ngx_connection_t  *c;

    c = rd->connection;

    while (rd->out_len) {
        n = c->send(c, rd->out, rd->out_len);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == NGX_ERROR || n <= 0) {
            ngx_http_iamsmart_redis_fail(rd, "send() failed");
            return;
        }

        rd->out_len -= n;

        if (rd->out_len) {
            ngx_memmove(rd->out, rd->out + n, rd->out_len);
        }
    }

    if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        ngx_http_iamsmart_redis_fail(rd, "cannot watch the socket");
    }
}


static void
ngx_http_iamsmart_redis_flush_handler(ngx_event_t *ev)
{
    ngx_http_iamsmart_redis_t  *rd = ev->data;

    if (rd->state == NGX_HTTP_IAMSMART_REDIS_UP) {
        ngx_http_iamsmart_redis_flush(rd);
    }
}


static void
ngx_http_iamsmart_redis_read_handler(ngx_event_t *rev)
{
    int                             rc;
    void                           *reply;
    ssize_t                         n;
    ngx_queue_t                    *q;
    ngx_connection_t               *c;
    ngx_http_iamsmart_redis_t      *rd;
    ngx_http_iamsmart_redis_cmd_t  *cmd;
    u_char                          buf[NGX_HTTP_IAMSMART_REDIS_READ_CHUNK];

    c = rev->data;
    rd = c->data;

    /*
     * epoll is edge-triggered: drain the socket before waiting again.
     * c->recv keeps rev->ready up to date (a short read, or what epoll
     * reported available), which saves the recv() that would only say
     * EAGAIN.
     */
    while (rev->ready) {
        n = c->recv(c, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0) {
            ngx_http_iamsmart_redis_fail(rd, "connection closed by redis");
            return;
        }

        if (n == NGX_ERROR) {
            ngx_http_iamsmart_redis_fail(rd, "recv() failed");
            return;
        }

        if (redisReaderFeed(rd->reader, (char *) buf, n) != REDIS_OK) {
            ngx_http_iamsmart_redis_fail(rd, "reply buffer error");
            return;
        }
    }

    for ( ;; ) {
        reply = NULL;
        rc = redisReaderGetReply(rd->reader, &reply);

        if (rc != REDIS_OK) {
            ngx_http_iamsmart_redis_fail(rd, "protocol error");
            return;
        }

        if (reply == NULL) {
            break;
        }

        if (ngx_queue_empty(&rd->sent)) {
            freeReplyObject(reply);
            ngx_http_iamsmart_redis_fail(rd, "unexpected reply");
            return;
        }

        q = ngx_queue_head(&rd->sent);
        ngx_queue_remove(q);
        cmd = ngx_queue_data(q, ngx_http_iamsmart_redis_cmd_t, queue);

        rd->backoff = NGX_HTTP_IAMSMART_REDIS_BACKOFF_MIN;

        if (cmd->handler) {
            cmd->handler(cmd->data, reply, NULL);
        }

        freeReplyObject(reply);
        ngx_free(cmd);

        if (rd->setup_refused) {
            ngx_http_iamsmart_redis_fail(rd, "AUTH or SELECT refused");
            return;
        }
    }

    ngx_http_iamsmart_redis_arm_timeout(rd);

    if (rd->connection && ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_iamsmart_redis_fail(rd, "cannot watch the socket");
    }
}


static void
ngx_http_iamsmart_redis_arm_timeout(ngx_http_iamsmart_redis_t *rd)
{
    ngx_msec_int_t                  delta;
    ngx_http_iamsmart_redis_cmd_t  *cmd;

    if (rd->timeout.timer_set) {
        ngx_del_timer(&rd->timeout);
    }

    if (ngx_queue_empty(&rd->sent)) {
        return;
    }

    cmd = ngx_queue_data(ngx_queue_head(&rd->sent),
                         ngx_http_iamsmart_redis_cmd_t, queue);

    delta = (ngx_msec_int_t) (cmd->deadline - ngx_current_msec);

    ngx_add_timer(&rd->timeout, delta > 0 ? (ngx_msec_t) delta : 1);
}


static void
ngx_http_iamsmart_redis_timeout_handler(ngx_event_t *ev)
{
    ngx_http_iamsmart_redis_fail(ev->data, "command timed out");
}


/*
 * Closes the connection, answers every queued command with an error and
 * schedules a reconnect.  reason == NULL: already logged.
 */
static void
ngx_http_iamsmart_redis_fail(ngx_http_iamsmart_redis_t *rd,
    const char *reason)
{
    ngx_queue_t                    *q;
    ngx_http_iamsmart_redis_cmd_t  *cmd;

    if (reason != NULL && rd->state != NGX_HTTP_IAMSMART_REDIS_DOWN
        && !rd->exiting)
    {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "iamsmart: redis %V: %s, reconnecting in %Mms",
                      &rd->conf->redis_addr.name, reason, rd->backoff);
    }

    rd->state = NGX_HTTP_IAMSMART_REDIS_DOWN;

    if (rd->timeout.timer_set) {
        ngx_del_timer(&rd->timeout);
    }

    if (rd->flush.posted) {
        ngx_delete_posted_event(&rd->flush);
    }

    if (rd->connection) {
        ngx_close_connection(rd->connection);
        rd->connection = NULL;
    }

    if (rd->reader) {
        redisReaderFree(rd->reader);
        rd->reader = NULL;
    }

    rd->out_len = 0;

    while (!ngx_queue_empty(&rd->sent)) {
        q = ngx_queue_head(&rd->sent);
        ngx_queue_remove(q);
        cmd = ngx_queue_data(q, ngx_http_iamsmart_redis_cmd_t, queue);

        if (cmd->handler) {
            cmd->handler(cmd->data, NULL, reason ? reason : "connect failed");
        }

        ngx_free(cmd);
    }

    if (rd->exiting || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    if (!rd->reconnect.timer_set) {
        ngx_add_timer(&rd->reconnect, rd->backoff);
        rd->backoff = ngx_min(rd->backoff * 2,
                              NGX_HTTP_IAMSMART_REDIS_BACKOFF_MAX);
    }
}


static void
ngx_http_iamsmart_redis_reconnect_handler(ngx_event_t *ev)
{
    ngx_http_iamsmart_redis_t  *rd = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_http_iamsmart_redis_connect(rd);
}

