/*
 * What a consent allows: its state transitions, the live-consent check of
 * the exchange endpoint, and the decision on an atomically counted use.
 *
 * The reason strings below reach requesters in 403 bodies and citizens in
 * 409 bodies; they are part of the interface (docs/consent.md lists
 * them), so change them only with a new API version.
 */

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include <iamsmart/consent.h>


static const char *const  iams_consent_reasons[IAMS_CONSENT_REASON_COUNT] = {
    [IAMS_CONSENT_LIVE]             = "consent live",
    [IAMS_CONSENT_NONE]             = "no consent",
    [IAMS_CONSENT_WRONG_REQUESTER]  = "wrong requester",
    [IAMS_CONSENT_WRONG_SUBJECT]    = "wrong subject",
    [IAMS_CONSENT_REVOKED]          = "consent revoked",
    [IAMS_CONSENT_EXPIRED]          = "consent expired",
    [IAMS_CONSENT_PAUSED]           = "consent paused",
    [IAMS_CONSENT_NOT_YET_VALID]    = "consent not yet valid",
    [IAMS_CONSENT_WRONG_PURPOSE]    = "wrong purpose",
    [IAMS_CONSENT_NO_ITEMS]         = "no items requested",
    [IAMS_CONSENT_ITEM_NOT_COVERED] = "item not covered",
    [IAMS_CONSENT_USE_LIMIT]        = "use limit reached",
    [IAMS_CONSENT_FREQUENCY_LIMIT]  = "frequency limit reached",
};


const char *
iams_consent_reason_str(iams_consent_reason reason)
{
    if ((unsigned) reason >= IAMS_CONSENT_REASON_COUNT) {
        return "unknown reason";
    }

    return iams_consent_reasons[reason];
}


const char *
iams_consent_tx_str(iams_consent_tx tx)
{
    switch (tx) {
    case IAMS_CONSENT_TX_OK:
        return "ok";
    case IAMS_CONSENT_TX_REVOKED:
        return "consent revoked";
    case IAMS_CONSENT_TX_EXPIRED:
        return "consent expired";
    case IAMS_CONSENT_TX_NOT_ACTIVE:
        return "consent not active";
    case IAMS_CONSENT_TX_NOT_PAUSED:
        return "consent not paused";
    case IAMS_CONSENT_TX_NOT_DUE:
        return "consent not yet due to expire";
    }

    return "unknown transition result";
}


/* ---- states ---- */

static iams_consent_tx
iams_consent_final(const iams_consent *c)
{
    switch (c->status) {
    case IAMS_CONSENT_STATUS_REVOKED:
        return IAMS_CONSENT_TX_REVOKED;
    case IAMS_CONSENT_STATUS_ACTIVE:
    case IAMS_CONSENT_STATUS_PAUSED:
        return IAMS_CONSENT_TX_OK;
    case IAMS_CONSENT_STATUS_EXPIRED:
        break;
    }

    return IAMS_CONSENT_TX_EXPIRED;
}


static iams_consent_tx
iams_consent_move(iams_consent *c, iams_consent_status to, int64_t now)
{
    c->status = to;

    /* a record stays valid whatever clock the caller has */
    if (now > c->status_changed) {
        c->status_changed = now < IAMS_CONSENT_TIME_MAX
                            ? now : IAMS_CONSENT_TIME_MAX;
    }

    return IAMS_CONSENT_TX_OK;
}


/* pause and resume: between ACTIVE and PAUSED, only before the expiry */
static iams_consent_tx
iams_consent_switch(iams_consent *c, iams_consent_status from,
    iams_consent_status to, iams_consent_tx not_from, int64_t now)
{
    iams_consent_tx  tx;

    tx = iams_consent_final(c);

    if (tx != IAMS_CONSENT_TX_OK) {
        return tx;
    }

    if (now >= c->expires) {
        return IAMS_CONSENT_TX_EXPIRED;
    }

    if (c->status != from) {
        return not_from;
    }

    return iams_consent_move(c, to, now);
}


iams_consent_tx
iams_consent_pause(iams_consent *c, int64_t now)
{
    return iams_consent_switch(c, IAMS_CONSENT_STATUS_ACTIVE,
                               IAMS_CONSENT_STATUS_PAUSED,
                               IAMS_CONSENT_TX_NOT_ACTIVE, now);
}


iams_consent_tx
iams_consent_resume(iams_consent *c, int64_t now)
{
    return iams_consent_switch(c, IAMS_CONSENT_STATUS_PAUSED,
                               IAMS_CONSENT_STATUS_ACTIVE,
                               IAMS_CONSENT_TX_NOT_PAUSED, now);
}


iams_consent_tx
iams_consent_revoke(iams_consent *c, int64_t now)
{
    iams_consent_tx  tx;

    tx = iams_consent_final(c);

    if (tx != IAMS_CONSENT_TX_OK) {
        return tx;
    }

    return iams_consent_move(c, IAMS_CONSENT_STATUS_REVOKED, now);
}


iams_consent_tx
iams_consent_expire(iams_consent *c, int64_t now)
{
    iams_consent_tx  tx;

    tx = iams_consent_final(c);

    if (tx != IAMS_CONSENT_TX_OK) {
        return tx;
    }

    if (now < c->expires) {
        return IAMS_CONSENT_TX_NOT_DUE;
    }

    return iams_consent_move(c, IAMS_CONSENT_STATUS_EXPIRED, now);
}


iams_consent_status
iams_consent_effective_status(const iams_consent *c, int64_t now)
{
    if ((c->status == IAMS_CONSENT_STATUS_ACTIVE
         || c->status == IAMS_CONSENT_STATUS_PAUSED)
        && now >= c->expires)
    {
        return IAMS_CONSENT_STATUS_EXPIRED;
    }

    return c->status;
}


/* ---- the check ---- */

static iams_consent_reason
iams_consent_verdict_set(iams_consent_verdict *v, iams_consent_reason reason)
{
    if (v != NULL) {
        v->reason = reason;
        v->item = 0;
        snprintf(v->text, sizeof(v->text), "%s",
                 iams_consent_reason_str(reason));
    }

    return reason;
}


static iams_consent_reason
iams_consent_uncovered(iams_consent_verdict *v, const iams_span *items,
    size_t i)
{
    if (v == NULL) {
        return IAMS_CONSENT_ITEM_NOT_COVERED;
    }

    iams_consent_verdict_set(v, IAMS_CONSENT_ITEM_NOT_COVERED);
    v->item = i;

    /* the name goes back to the requester and into the audit: show it
     * only when it has an item's shape */
    if (items[i].data != NULL
        && iams_consent_item_ok(items[i].data, items[i].len))
    {
        snprintf(v->text, sizeof(v->text), "%s: %.*s",
                 iams_consent_reason_str(IAMS_CONSENT_ITEM_NOT_COVERED),
                 (int) items[i].len, items[i].data);

    } else {
        snprintf(v->text, sizeof(v->text), "%s: (invalid item name)",
                 iams_consent_reason_str(IAMS_CONSENT_ITEM_NOT_COVERED));
    }

    return IAMS_CONSENT_ITEM_NOT_COVERED;
}


static int
iams_span_equal(iams_span s, const char *cstr)
{
    size_t  n;

    n = strlen(cstr);

    return s.data != NULL && s.len == n && memcmp(s.data, cstr, n) == 0;
}


static int
iams_span_equal_nocase(iams_span s, const char *cstr)
{
    size_t  i, n;

    n = strlen(cstr);

    if (s.data == NULL || s.len != n) {
        return 0;
    }

    /* department codes are ASCII letters (the record's are checked, and a
     * query byte that is not a letter never matches), so folding the case
     * bit is a case-insensitive comparison */
    for (i = 0; i < n; i++) {
        unsigned char  a = (unsigned char) s.data[i];

        if (!((a >= 'a' && a <= 'z') || (a >= 'A' && a <= 'Z'))
            || (a | 0x20) != ((unsigned char) cstr[i] | 0x20))
        {
            return 0;
        }
    }

    return 1;
}


iams_consent_reason
iams_consent_check(const iams_consent *c, const iams_consent_query *q,
    int64_t now, iams_consent_verdict *v)
{
    size_t  i;

    if (c == NULL) {
        return iams_consent_verdict_set(v, IAMS_CONSENT_NONE);
    }

    if (!iams_span_equal_nocase(q->department, c->requester.department)
        || !iams_span_equal(q->service, c->service))
    {
        return iams_consent_verdict_set(v, IAMS_CONSENT_WRONG_REQUESTER);
    }

    if (q->subject.data != NULL
        && (q->subject.len != strlen(c->requester.subject)
            || CRYPTO_memcmp(q->subject.data, c->requester.subject,
                             q->subject.len) != 0))
    {
        return iams_consent_verdict_set(v, IAMS_CONSENT_WRONG_SUBJECT);
    }

    switch (iams_consent_effective_status(c, now)) {
    case IAMS_CONSENT_STATUS_REVOKED:
        return iams_consent_verdict_set(v, IAMS_CONSENT_REVOKED);
    case IAMS_CONSENT_STATUS_EXPIRED:
        return iams_consent_verdict_set(v, IAMS_CONSENT_EXPIRED);
    case IAMS_CONSENT_STATUS_PAUSED:
        return iams_consent_verdict_set(v, IAMS_CONSENT_PAUSED);
    case IAMS_CONSENT_STATUS_ACTIVE:
        break;
    default:
        return iams_consent_verdict_set(v, IAMS_CONSENT_NONE);
    }

    if (now < c->not_before) {
        return iams_consent_verdict_set(v, IAMS_CONSENT_NOT_YET_VALID);
    }

    if (!iams_span_equal(q->purpose, c->purpose_code)) {
        return iams_consent_verdict_set(v, IAMS_CONSENT_WRONG_PURPOSE);
    }

    if (q->nitems == 0 || q->items == NULL) {
        return iams_consent_verdict_set(v, IAMS_CONSENT_NO_ITEMS);
    }

    for (i = 0; i < q->nitems; i++) {
        if (q->items[i].data == NULL
            || iams_consent_item_source(c, q->items[i].data, q->items[i].len)
               < 0)
        {
            return iams_consent_uncovered(v, q->items, i);
        }
    }

    if (c->max_uses > 0 && c->use_count >= c->max_uses) {
        return iams_consent_verdict_set(v, IAMS_CONSENT_USE_LIMIT);
    }

    return iams_consent_verdict_set(v, IAMS_CONSENT_LIVE);
}


/* ---- counted uses ---- */

void
iams_consent_period(const iams_consent *c, int64_t now, int64_t *index,
    int64_t *ttl)
{
    int64_t  k;

    *index = 0;
    *ttl = 0;

    if (c->freq_max == 0 || c->freq_period <= 0 || now < c->not_before) {
        return;
    }

    k = (now - c->not_before) / c->freq_period;

    *index = k;
    *ttl = c->not_before + (k + 1) * c->freq_period - now;
}


iams_consent_reason
iams_consent_use_verdict(const iams_consent *c, int64_t uses,
    int64_t period_uses, iams_consent_verdict *v)
{
    if (uses < 1 || (c->max_uses > 0 && uses > c->max_uses)) {
        return iams_consent_verdict_set(v, IAMS_CONSENT_USE_LIMIT);
    }

    if (c->freq_max > 0 && (period_uses < 1 || period_uses > c->freq_max)) {
        return iams_consent_verdict_set(v, IAMS_CONSENT_FREQUENCY_LIMIT);
    }

    return iams_consent_verdict_set(v, IAMS_CONSENT_LIVE);
}


void
iams_consent_set_usage(iams_consent *c, int64_t uses, int64_t last_used)
{
    if (uses < 0) {
        uses = 0;
    }

    if (uses > IAMS_CONSENT_USES_MAX) {
        uses = IAMS_CONSENT_USES_MAX;
    }

    if (c->max_uses > 0 && uses > c->max_uses) {
        uses = c->max_uses;
    }

    if (last_used <= 0) {
        last_used = 0;

    } else if (last_used < c->created) {
        last_used = c->created;

    } else if (last_used > IAMS_CONSENT_TIME_MAX) {
        last_used = IAMS_CONSENT_TIME_MAX;
    }

    c->use_count = uses;
    c->last_used = last_used;
}
