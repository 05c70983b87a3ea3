
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * The pages citizens see when something stops a login: short, bilingual
 * (English and Traditional Chinese), with one action they can take.
 */


#include "ngx_http_iamsmart.h"


static const char  ngx_http_iamsmart_page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
    "<title>iAM Smart</title><style>"
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;"
    "padding:0 1rem;color:#1b1b1b}h1{font-size:1.3rem}"
    "a.button{display:inline-block;padding:.6rem 1.2rem;background:#2b6b4f;"
    "color:#fff;text-decoration:none;border-radius:.3rem}"
    "</style></head><body>\n";


ngx_int_t
ngx_http_iamsmart_send_page(ngx_http_request_t *r, ngx_uint_t status,
    const ngx_http_iamsmart_page_t *page)
{
    u_char                    *p;
    size_t                     len, link_len;
    ngx_str_t                  ct = ngx_string("text/html; charset=utf-8");
    ngx_str_t                  cc = ngx_string("no-store");
    ngx_http_complex_value_t   cv;

    link_len = page->link.len
               ? page->link.len + ngx_escape_html(NULL, page->link.data,
                                                  page->link.len)
               : 0;

    len = sizeof(ngx_http_iamsmart_page_head) - 1
          + sizeof("<h1></h1>\n<p></p>\n<h1 lang=\"zh-HK\"></h1>\n"
                   "<p lang=\"zh-HK\"></p>\n") - 1
          + ngx_strlen(page->title_en) + ngx_strlen(page->text_en)
          + ngx_strlen(page->title_zh) + ngx_strlen(page->text_zh)
          + sizeof("<p><a class=\"button\" href=\"\"> / </a></p>\n") - 1
          + link_len + ngx_strlen(page->action_en)
          + ngx_strlen(page->action_zh)
          + sizeof("</body></html>\n") - 1;

    ngx_memzero(&cv, sizeof(ngx_http_complex_value_t));

    cv.value.data = ngx_pnalloc(r->pool, len);
    if (cv.value.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(cv.value.data, ngx_http_iamsmart_page_head,
                   sizeof(ngx_http_iamsmart_page_head) - 1);
    p = ngx_sprintf(p, "<h1>%s</h1>\n<p>%s</p>\n", page->title_en,
                    page->text_en);
    p = ngx_sprintf(p, "<h1 lang=\"zh-HK\">%s</h1>\n<p lang=\"zh-HK\">%s</p>\n",
                    page->title_zh, page->text_zh);

    if (page->link.len) {
        p = ngx_cpymem(p, "<p><a class=\"button\" href=\"",
                       sizeof("<p><a class=\"button\" href=\"") - 1);
        p = (u_char *) ngx_escape_html(p, page->link.data, page->link.len);
        p = ngx_sprintf(p, "\">%s / %s</a></p>\n", page->action_en,
                        page->action_zh);
    }

    p = ngx_cpymem(p, "</body></html>\n", sizeof("</body></html>\n") - 1);
    cv.value.len = p - cv.value.data;

    if (ngx_http_iamsmart_add_header(r, "Cache-Control", &cc) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_send_response(r, status, &ct, &cv);
}
