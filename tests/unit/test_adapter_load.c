/*
 * The adapter loader against real shared objects: the broken fixtures of
 * adapters/broken/ (each refused with its documented reason and exact
 * message, none crashing the process), configuration errors, and a reload
 * that swaps a replaced file while the old one is still loaded.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_adapter_env.h"


static iams_adapter_load_status
load(test_env *t, const char *name, const char *path,
    const char *config_path, iams_adapter **a, iams_adapter_diag *diag)
{
    iams_adapter_spec  spec;

    memset(&spec, 0, sizeof(spec));
    spec.name = name;
    spec.path = path;
    spec.config_path = config_path;

    return iams_adapter_load(&spec, &t->env, a, diag);
}


/* Loading must fail with want and exactly the message
 * `adapter "NAME" (PATH): rest`. */
static void
refused(const char *fixture, iams_adapter_load_status want,
    const char *rest)
{
    char                      expect[8192];
    char                      path[4096];
    test_env                  t;
    iams_adapter             *a;
    iams_adapter_diag         diag;
    iams_adapter_load_status  st;

    test_env_init(&t);
    snprintf(path, sizeof(path), "%s", test_adapter_path(fixture));

    st = load(&t, "brk", path, NULL, &a, &diag);

    assert_null(a);
    assert_string_equal(iams_adapter_load_status_str(st),
                        iams_adapter_load_status_str(want));

    snprintf(expect, sizeof(expect), "adapter \"brk\" (%s): %s", path, rest);
    assert_string_equal(diag.message, expect);

    test_env_free(&t);
}


static void
test_missing_file(void **state)
{
    (void) state;

    refused("no_such_adapter", IAMS_ADAPTER_LOAD_OPEN,
            "cannot open: No such file or directory");
}


static void
test_not_an_object(void **state)
{
    char                      path[] = "/tmp/iams-adapter-XXXXXX";
    int                       fd;
    test_env                  t;
    iams_adapter             *a;
    iams_adapter_diag         diag;
    iams_adapter_load_status  st;
    char                      prefix[256];

    (void) state;

    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not an ELF object\n", 18), 18);
    close(fd);

    test_env_init(&t);

    st = load(&t, "text", path, NULL, &a, &diag);
    assert_int_equal(st, IAMS_ADAPTER_LOAD_OPEN);

    snprintf(prefix, sizeof(prefix), "adapter \"text\" (%s): cannot load: ",
             path);
    assert_memory_equal(diag.message, prefix, strlen(prefix));

    /* dlerror names the file by the loader's internal name: not shown */
    assert_null(strstr(diag.message, "/proc/self/fd"));

    unlink(path);
    test_env_free(&t);

    (void) a;
}


static void
test_directory(void **state)
{
    test_env                  t;
    iams_adapter             *a;
    iams_adapter_diag         diag;

    (void) state;

    test_env_init(&t);
    assert_int_equal(load(&t, "dir", "/tmp", NULL, &a, &diag),
                     IAMS_ADAPTER_LOAD_OPEN);
    assert_string_equal(diag.message, "adapter \"dir\" (/tmp): cannot open: "
                        "not a regular file");
    test_env_free(&t);
}


static void
test_no_entry(void **state)
{
    (void) state;

    refused("broken_no_entry", IAMS_ADAPTER_LOAD_NO_ENTRY,
            "no entry symbol \"iams_adapter_entry\" (not an adapter, or "
            "built without IAMS_ADAPTER_EXPORT)");
}


static void
test_bad_magic(void **state)
{
    (void) state;

    refused("broken_bad_magic", IAMS_ADAPTER_LOAD_BAD_TABLE,
            "bad magic 0x7f454c46 (expected 0x69414d53): not an iAM Smart "
            "adapter table");
}


static void
test_wrong_abi(void **state)
{
    (void) state;

    refused("broken_wrong_abi", IAMS_ADAPTER_LOAD_ABI,
            "built for ABI 2.1, gateway provides 1.0");
}


static void
test_small_table(void **state)
{
    char  rest[256];

    (void) state;

    snprintf(rest, sizeof(rest), "table of 40 bytes is smaller than the %zu "
             "bytes of ABI 1.0 (built for ABI 1.0, gateway provides 1.0)",
             sizeof(iams_adapter_v1));

    refused("broken_small_table", IAMS_ADAPTER_LOAD_SIZE, rest);
}


static void
test_unresolved_symbol(void **state)
{
    (void) state;

    refused("broken_unresolved", IAMS_ADAPTER_LOAD_OPEN,
            "cannot load: undefined symbol: iams_fixture_missing_symbol");
}


static void
test_init_fails(void **state)
{
    (void) state;

    /* the fixture's fini aborts: it must not run after a failed init */
    refused("broken_init_fails", IAMS_ADAPTER_LOAD_INIT,
            "init failed: invalid_config: \"backend_key\" is missing");
}


static void
test_bad_describe(void **state)
{
    (void) state;

    refused("broken_bad_describe", IAMS_ADAPTER_LOAD_DESCRIBE,
            "invalid describe output: invalid JSON: byte 53: "
            "premature end of input");
}


static void
test_map_errors_do_not_crash(void **state)
{
    size_t                         n, len;
    const char                    *out;
    test_env                       t;
    iams_adapter                  *a;
    iams_adapter_diag              diag;
    iams_adapter_reply             r;
    iams_adapter_header           *h;
    iams_adapter_backend_request   req;
    static const char              query[] =
        "{\"dataset\": \"brk.record\", \"subject\": \"sub-1\"}";
    static const char              form[] =
        "{\"form\": \"brk.form\", \"fields\": {}}";
    static const char              identity[] =
        "{\"department\": \"BRK\", \"subject\": \"sub-1\"}";

    (void) state;

    test_env_init(&t);

    assert_int_equal(load(&t, "brk", test_adapter_path("broken_map_error"),
                          NULL, &a, &diag),
                     IAMS_ADAPTER_LOAD_OK);
    assert_string_equal(iams_adapter_department(a), "BRK");

    assert_int_equal(iams_adapter_map_request(a, &t.env, query,
                                              sizeof(query) - 1, &req, &diag),
                     IAMS_ADAPTER_ERR_OUTPUT);
    assert_string_equal(diag.message, "map_request output: byte 3: "
                        "invalid token");

    r = test_reply(200, "{}");
    assert_int_equal(iams_adapter_map_response(a, &t.env, query,
                                               sizeof(query) - 1, &r, &out,
                                               &len, &diag),
                     IAMS_ADAPTER_ERR_BAD_REPLY);
    assert_string_equal(diag.message, "map_response: malformed_reply: the "
                        "fixture understands no reply");
    assert_null(out);

    assert_int_equal(iams_adapter_map_form(a, &t.env, form, sizeof(form) - 1,
                                           &out, &len, &diag),
                     IAMS_ADAPTER_ERR_INTERNAL);
    assert_string_equal(diag.message, "map_form returned status 77, which "
                        "adapters may not use");

    assert_int_equal(iams_adapter_bridge(a, &t.env, identity,
                                         sizeof(identity) - 1, &h, &n,
                                         &diag),
                     IAMS_ADAPTER_ERR_OUTPUT);
    assert_string_equal(diag.message, "bridge output: header \"X-Brk-Ref\": "
                        "value must be a string of at most 4096 bytes "
                        "without control characters");
    assert_null(h);

    /* typed errors are what a gateway answers with */
    assert_int_equal(iams_adapter_status_http(IAMS_ADAPTER_ERR_BAD_REPLY),
                     502);
    assert_int_equal(iams_adapter_status_http(IAMS_ADAPTER_ERR_INTERNAL),
                     500);

    iams_adapter_unload(a);
    test_env_free(&t);
}


static void
test_config_errors(void **state)
{
    char                path[] = "/tmp/iams-adapter-cfg-XXXXXX";
    char                expect[8192];
    int                 fd;
    test_env            t;
    iams_adapter       *a;
    iams_adapter_diag   diag;
    const char         *so;

    (void) state;

    test_env_init(&t);
    so = test_adapter_path("tutorial");

    assert_int_equal(load(&t, "fehd", so, "/nonexistent/fehd.json", &a,
                          &diag),
                     IAMS_ADAPTER_LOAD_CONFIG);
    snprintf(expect, sizeof(expect), "adapter \"fehd\" (%s): config file "
             "\"/nonexistent/fehd.json\": cannot open: No such file or "
             "directory", so);
    assert_string_equal(diag.message, expect);

    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "{\"api_prefix\": ", 15), 15);
    close(fd);

    assert_int_equal(load(&t, "fehd", so, path, &a, &diag),
                     IAMS_ADAPTER_LOAD_CONFIG);
    snprintf(expect, sizeof(expect), "adapter \"fehd\" (%s): config file "
             "\"%s\": byte 15: unexpected token", so, path);
    assert_string_equal(diag.message, expect);

    /* valid JSON the adapter itself refuses */
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "{\"api_prefix\": \"api\"}", 21), 21);
    close(fd);

    assert_int_equal(load(&t, "fehd", so, path, &a, &diag),
                     IAMS_ADAPTER_LOAD_INIT);
    snprintf(expect, sizeof(expect), "adapter \"fehd\" (%s): init failed: "
             "invalid_config: \"api_prefix\" must be a path of at most 63 "
             "bytes", so);
    assert_string_equal(diag.message, expect);

    unlink(path);

    assert_int_equal(load(&t, "FEHD!", so, NULL, &a, &diag),
                     IAMS_ADAPTER_LOAD_USAGE);

    test_env_free(&t);
}


static int
copy_file(const char *from, const char *to)
{
    FILE    *in, *out;
    char     buf[65536];
    size_t   n;
    int      rc;

    in = fopen(from, "rb");
    out = fopen(to, "wb");
    rc = (in != NULL && out != NULL) ? 0 : -1;

    while (rc == 0 && (n = fread(buf, 1, sizeof(buf), in)) > 0) {
        if (fwrite(buf, 1, n, out) != n) {
            rc = -1;
        }
    }

    if (in != NULL) {
        fclose(in);
    }

    if (out != NULL && fclose(out) != 0) {
        rc = -1;
    }

    return rc;
}


/* What a reload does: the new configuration loads the same path while the
 * old one still holds its adapter. */
static void
test_reload_swaps_replaced_file(void **state)
{
    char                dir[] = "/tmp/iams-adapter-swap-XXXXXX";
    char                path[256], tmp[256];
    test_env            t;
    iams_adapter       *old, *same, *fresh;
    iams_adapter_diag   diag;

    (void) state;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/dept.so", dir);
    snprintf(tmp, sizeof(tmp), "%s/dept.so.new", dir);

    test_env_init(&t);

    assert_int_equal(copy_file(test_adapter_path("tutorial"), path), 0);
    assert_int_equal(load(&t, "dept", path, NULL, &old, &diag),
                     IAMS_ADAPTER_LOAD_OK);
    assert_string_equal(iams_adapter_department(old), "FEHD");

    /* an unchanged file: the same code, loaded again */
    assert_int_equal(load(&t, "dept", path, NULL, &same, &diag),
                     IAMS_ADAPTER_LOAD_OK);
    assert_string_equal(iams_adapter_department(same), "FEHD");

    /* deploy by rename: a new inode at the same path */
    assert_int_equal(copy_file(test_adapter_path("broken_map_error"), tmp),
                     0);
    assert_int_equal(rename(tmp, path), 0);

    assert_int_equal(load(&t, "dept", path, NULL, &fresh, &diag),
                     IAMS_ADAPTER_LOAD_OK);
    assert_string_equal(iams_adapter_department(fresh), "BRK");

    /* the old configuration still works while its requests finish */
    assert_string_equal(iams_adapter_department(old), "FEHD");
    assert_true(iams_adapter_has_dataset(old, "fehd.food_licence", 17));

    iams_adapter_unload(old);
    iams_adapter_unload(same);

    /* and again, after the old object is gone */
    assert_int_equal(load(&t, "dept", path, NULL, &old, &diag),
                     IAMS_ADAPTER_LOAD_OK);
    assert_string_equal(iams_adapter_department(old), "BRK");

    iams_adapter_unload(old);
    iams_adapter_unload(fresh);

    unlink(path);
    rmdir(dir);
    test_env_free(&t);
}


static void
test_built_adapters_load(void **state)
{
    test_env            t;
    iams_adapter       *a;
    iams_adapter_diag   diag;

    (void) state;

    test_env_init(&t);

    assert_int_equal(load(&t, "fehd", test_adapter_path("tutorial"), NULL,
                          &a, &diag),
                     IAMS_ADAPTER_LOAD_OK);
    assert_string_equal(iams_adapter_name(a), "fehd");
    assert_string_equal(iams_adapter_version(a), "1.0.0");
    assert_true(iams_adapter_has_form(a, "fehd.licence_renewal", 20));
    assert_false(iams_adapter_has_bridge(a));
    iams_adapter_unload(a);

    /* nothing was slow enough to warn about */
    assert_int_equal(t.warnings, 0);

    test_env_free(&t);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_directory),
        cmocka_unit_test(test_no_entry),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_wrong_abi),
        cmocka_unit_test(test_small_table),
        cmocka_unit_test(test_unresolved_symbol),
        cmocka_unit_test(test_init_fails),
        cmocka_unit_test(test_bad_describe),
        cmocka_unit_test(test_map_errors_do_not_crash),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_reload_swaps_replaced_file),
        cmocka_unit_test(test_built_adapters_load),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
