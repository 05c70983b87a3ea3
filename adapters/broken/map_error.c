/*
 * Fixture: an adapter that loads (its describe is valid) but whose hooks
 * misbehave in every way a worker must survive:
 *
 *   map_request   writes output that is not JSON -> IAMS_ADAPTER_ERR_OUTPUT
 *   map_response  a typed error with a message   -> IAMS_ADAPTER_ERR_BAD_REPLY
 *   map_form      returns a value outside the enum -> IAMS_ADAPTER_ERR_INTERNAL
 *   bridge        a header value with CR LF      -> IAMS_ADAPTER_ERR_OUTPUT
 */

#include <iamsmart/adapter.h>


static iams_adapter_status
broken_describe(iams_adapter_call *call)
{
    static const char  text[] =
        "{\"department\": {\"code\": \"BRK\", \"name\": {\"en\": \"Broken "
        "Fixtures Office\", \"zh-HK\": \"測試處\"}},"
        " \"services\": [{\"id\": \"brk.fixture\", \"name\": {\"en\": "
        "\"Fixture service\", \"zh-HK\": \"測試服務\"}, \"themes\": "
        "[\"civic\"], \"age_groups\": [\"adult\"], \"forms\": "
        "[\"brk.form\"], \"datasets\": [\"brk.record\"]}],"
        " \"datasets\": [{\"id\": \"brk.record\", \"name\": {\"en\": "
        "\"Record\", \"zh-HK\": \"紀錄\"}, \"fields\": [{\"name\": "
        "\"brk.record.value\", \"type\": \"string\", \"required\": true}]}],"
        " \"forms\": [{\"id\": \"brk.form\", \"name\": {\"en\": \"Form\", "
        "\"zh-HK\": \"表格\"}, \"service\": \"brk.fixture\", \"fields\": "
        "[{\"name\": \"name\", \"type\": \"string\", \"from\": "
        "[\"enName\"]}]}]}";

    return iams_adapter_set_output(call, text, sizeof(text) - 1);
}


static iams_adapter_status
broken_map_request(iams_adapter_call *call, const char *query,
    size_t query_len)
{
    static const char  text[] = "GET /records HTTP/1.1";

    (void) query;
    (void) query_len;

    return iams_adapter_set_output(call, text, sizeof(text) - 1);
}


static iams_adapter_status
broken_map_response(iams_adapter_call *call, const char *query,
    size_t query_len, const iams_adapter_reply *reply)
{
    (void) query;
    (void) query_len;
    (void) reply;

    return iams_adapter_fail(call, IAMS_ADAPTER_ERR_BAD_REPLY,
                             "the fixture understands no reply");
}


static iams_adapter_status
broken_map_form(iams_adapter_call *call, const char *input, size_t input_len)
{
    (void) call;
    (void) input;
    (void) input_len;

    return (iams_adapter_status) 77;
}


static iams_adapter_status
broken_bridge(iams_adapter_call *call, const char *identity,
    size_t identity_len)
{
    static const char  text[] =
        "{\"headers\": {\"X-Brk-Ref\": \"a\\r\\nSet-Cookie: x=1\"}}";

    (void) identity;
    (void) identity_len;

    return iams_adapter_set_output(call, text, sizeof(text) - 1);
}


static const iams_adapter_v1  broken_table = {
    IAMS_ADAPTER_V1_HEADER,
    .name = "map_error",
    .department = "BRK",
    .version = "1.0.0",
    .describe = broken_describe,
    .map_request = broken_map_request,
    .map_response = broken_map_response,
    .map_form = broken_map_form,
    .bridge = broken_bridge,
};


IAMS_ADAPTER_EXPORT const iams_adapter_v1 *
iams_adapter_entry(void)
{
    return &broken_table;
}
