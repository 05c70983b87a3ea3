/*
 * The adapter SDK (adapters/sdk/iams_sdk.c, compiled in): bounded parsing,
 * JSON pointers, date patterns and timestamps, names, phones, HKIDs, the
 * common address schema, and form payload building.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_adapter_env.h"

#include "../../adapters/sdk/iams_sdk.c"


static void
test_parse_bounds(void **state)
{
    char     deep[80];
    json_t  *v;

    (void) state;

    memset(deep, '[', 32);
    memset(deep + 32, ']', 32);
    v = iams_sdk_parse(deep, 64, 1024);
    assert_non_null(v);
    json_decref(v);

    memset(deep, '[', 33);
    memset(deep + 33, ']', 33);
    assert_null(iams_sdk_parse(deep, 66, 1024));

    assert_null(iams_sdk_parse("{\"a\": 1, \"a\": 2}", 16, 1024));
    assert_null(iams_sdk_parse("{}", 2, 1));
    assert_null(iams_sdk_parse_object("[]", 2, 1024));
    assert_null(iams_sdk_parse("{} x", 4, 1024));

    v = iams_sdk_parse("\"s\"", 3, 1024);
    assert_string_equal(json_string_value(v), "s");
    json_decref(v);
}


static void
test_pointers(void **state)
{
    json_t  *doc;

    (void) state;

    doc = json_pack("{s:[{s:i, s:i}], s:i}", "a", "b/c", 1, "d~e", 2, "",
                    3);

    assert_ptr_equal(iams_sdk_pointer(doc, ""), doc);
    assert_int_equal(json_integer_value(iams_sdk_pointer(doc, "/a/0/b~1c")),
                     1);
    assert_int_equal(json_integer_value(iams_sdk_pointer(doc, "/a/0/d~0e")),
                     2);
    assert_int_equal(json_integer_value(iams_sdk_pointer(doc, "/")), 3);
    assert_null(iams_sdk_pointer(doc, "/a/00/b~1c"));
    assert_null(iams_sdk_pointer(doc, "/a/1"));
    assert_null(iams_sdk_pointer(doc, "/a/-"));
    assert_null(iams_sdk_pointer(doc, "/a/0/x~2"));
    assert_null(iams_sdk_pointer(doc, "a"));
    assert_null(iams_sdk_pointer(doc, "/a/0/b~1c/z"));
    assert_null(iams_sdk_pointer_string(doc, "/a"));

    json_decref(doc);
}


static void
test_dates(void **state)
{
    char  out[64];

    (void) state;

    assert_int_equal(iams_sdk_date_parse("14/06/2030", 10, "DD/MM/YYYY",
                                         out), 0);
    assert_string_equal(out, "20300614");

    /* one-digit day and month where a separator follows */
    assert_int_equal(iams_sdk_date_parse("1/3/2025", 8, "DD/MM/YYYY", out),
                     0);
    assert_string_equal(out, "20250301");

    assert_int_equal(iams_sdk_date_parse("29/02/2024", 10, "DD/MM/YYYY",
                                         out), 0);
    assert_int_equal(iams_sdk_date_parse("29/02/2023", 10, "DD/MM/YYYY",
                                         out), -1);
    assert_int_equal(iams_sdk_date_parse("31/04/2023", 10, "DD/MM/YYYY",
                                         out), -1);
    assert_int_equal(iams_sdk_date_parse("2023-04-01", 10, "DD/MM/YYYY",
                                         out), -1);
    assert_int_equal(iams_sdk_date_parse("14/06/2030 ", 11, "DD/MM/YYYY",
                                         out), -1);
    assert_int_equal(iams_sdk_date_parse("2025131", 7, "YYYYMMDD", out), -1);
    assert_int_equal(iams_sdk_date_parse("17000101", 8, "YYYYMMDD", out),
                     -1);

    assert_int_equal(iams_sdk_date_format("19800101", "DD/MM/YYYY", out,
                                          sizeof(out)), 0);
    assert_string_equal(out, "01/01/1980");
    assert_int_equal(iams_sdk_date_format("19800101", "YYYY-MM-DD", out,
                                          11), 0);
    assert_string_equal(out, "1980-01-01");
    assert_int_equal(iams_sdk_date_format("19800101", "YYYY-MM-DD", out,
                                          10), -1);
    assert_int_equal(iams_sdk_date_format("1980011", "YYYY", out, 64), -1);
    assert_int_equal(iams_sdk_date_format("19801301", "YYYY", out, 64), -1);
}


static void
test_timestamps(void **state)
{
    char  out[21];

    (void) state;

    /* Hong Kong time across midnight and the new year */
    assert_int_equal(iams_sdk_timestamp("2025-01-01 07:59:59", 19,
                                        "YYYY-MM-DD hh:mm:ss", 480, out), 0);
    assert_string_equal(out, "2024-12-31T23:59:59Z");

    assert_int_equal(iams_sdk_timestamp("20250301T100000", 15,
                                        "YYYYMMDDThhmmss", 480, out), 0);
    assert_string_equal(out, "2025-03-01T02:00:00Z");

    assert_int_equal(iams_sdk_timestamp("01/03/2024", 10, "DD/MM/YYYY", 0,
                                        out), 0);
    assert_string_equal(out, "2024-03-01T00:00:00Z");

    assert_int_equal(iams_sdk_timestamp("2024-03-01T00:30:00-05:30", 25,
                                        NULL, 0, out), 0);
    assert_string_equal(out, "2024-03-01T06:00:00Z");

    assert_int_equal(iams_sdk_timestamp("2024-02-29T23:00:00.123456+08:00",
                                        32, NULL, 0, out), 0);
    assert_string_equal(out, "2024-02-29T15:00:00Z");

    assert_int_equal(iams_sdk_timestamp("2024-03-01T00:30:00", 19, NULL, 0,
                                        out), -1);
    assert_int_equal(iams_sdk_timestamp("2024-03-01T24:00:00Z", 20, NULL, 0,
                                        out), -1);
    assert_int_equal(iams_sdk_timestamp("2024-03-01T00:00:00+25:00", 25,
                                        NULL, 0, out), -1);
    assert_int_equal(iams_sdk_timestamp("1800-01-01 00:00:00", 19,
                                        "YYYY-MM-DD hh:mm:ss", 480, out), -1);
}


static void
test_names(void **state)
{
    char     s[64], g[64];
    json_t  *v;

    (void) state;

    v = iams_sdk_en_name("Chan", "Tai Man");
    assert_string_equal(test_str(v, "UnstructuredName"), "CHAN, Tai Man");
    assert_int_equal(iams_sdk_en_name_split(v, s, sizeof(s), g, sizeof(g)),
                     0);
    assert_string_equal(s, "CHAN");
    assert_string_equal(g, "Tai Man");
    json_decref(v);

    v = iams_sdk_en_name_text("  LEE SIU MING ");
    assert_string_equal(test_str(v, "UnstructuredName"), "LEE, SIU MING");
    json_decref(v);

    v = iams_sdk_en_name_text("Madonna");
    assert_string_equal(test_str(v, "UnstructuredName"), "MADONNA");
    assert_int_equal(iams_sdk_en_name_split(v, s, sizeof(s), g, sizeof(g)),
                     0);
    assert_string_equal(g, "");
    json_decref(v);

    assert_null(iams_sdk_en_name_text(", Tai Man"));
    assert_null(iams_sdk_en_name("", "x"));

    v = iams_sdk_zh_name("歐陽小明");
    assert_int_equal(iams_sdk_zh_name_split(v, s, sizeof(s), g, sizeof(g)),
                     0);
    assert_string_equal(s, "歐陽");
    assert_string_equal(g, "小明");
    json_decref(v);

    v = iams_sdk_zh_name("陳大文");
    assert_int_equal(iams_sdk_zh_name_split(v, s, sizeof(s), g, sizeof(g)),
                     0);
    assert_string_equal(s, "陳");
    assert_string_equal(g, "大文");
    json_decref(v);

    /* a compound surname alone is a surname */
    v = iams_sdk_zh_name("司徒");
    assert_int_equal(iams_sdk_zh_name_split(v, s, sizeof(s), g, sizeof(g)),
                     0);
    assert_string_equal(s, "司");
    json_decref(v);
}


static void
phone_is(const char *text, const char *cc, const char *sub)
{
    json_t  *v;

    v = iams_sdk_phone_parse(text);
    if (cc == NULL) {
        assert_null(v);
        return;
    }

    assert_non_null(v);
    assert_string_equal(test_str(v, "CountryCode"), cc);
    assert_string_equal(test_str(v, "SubscriberNumber"), sub);
    json_decref(v);
}


static void
test_phones_and_hkids(void **state)
{
    char     out[32];
    json_t  *v;

    (void) state;

    phone_is("91234567", "852", "91234567");
    phone_is("9123 4567", "852", "91234567");
    phone_is("+852 9123-4567", "852", "91234567");
    phone_is("+85291234567", "852", "91234567");
    phone_is("(853) 2833 1234", "853", "28331234");
    phone_is("0086 138 1234 5678", "86", "13812345678");
    phone_is("+44 20 7946 0000", "44", "2079460000");
    phone_is("1234567", NULL, NULL);
    phone_is("+852 91x4567", NULL, NULL);
    phone_is("+999123456", NULL, NULL);

    v = iams_sdk_phone_parse("+86 13812345678");
    assert_int_equal(iams_sdk_phone_format(v, 1, out, sizeof(out)), 0);
    assert_string_equal(out, "+8613812345678");
    assert_int_equal(iams_sdk_phone_format(v, 0, out, sizeof(out)), 0);
    assert_string_equal(out, "13812345678");
    assert_int_equal(iams_sdk_phone_format(v, 1, out, 5), -1);
    json_decref(v);

    v = iams_sdk_hkid_parse("a123456(3)");
    assert_string_equal(test_str(v, "Identification"), "A123456");
    assert_string_equal(test_str(v, "CheckDigit"), "3");
    assert_int_equal(iams_sdk_hkid_format(v, 1, out, sizeof(out)), 0);
    assert_string_equal(out, "A123456(3)");
    assert_int_equal(iams_sdk_hkid_format(v, 0, out, sizeof(out)), 0);
    assert_string_equal(out, "A1234563");
    json_decref(v);

    v = iams_sdk_hkid_parse("XA987654 2");
    assert_string_equal(test_str(v, "Identification"), "XA987654");
    json_decref(v);

    assert_null(iams_sdk_hkid_parse("A123456(4)"));
    assert_null(iams_sdk_hkid_parse("A12345(6)"));
    assert_null(iams_sdk_hkid_parse("1234567(8)"));

    /* the personas' numbers all check */
    v = iams_sdk_hkid_parse("K3456781");
    assert_non_null(v);
    json_decref(v);
    v = iams_sdk_hkid_parse("Y6543217");
    assert_non_null(v);
    json_decref(v);
}


static void
lines_are(const char *address, const char *lang, const char *expect)
{
    char     text[512];
    json_t  *a;

    a = test_json(address, strlen(address));

    if (expect == NULL) {
        assert_null(iams_sdk_address_lines(a, lang));
        assert_int_equal(iams_sdk_address_text(a, lang, text, sizeof(text)),
                         -1);

    } else {
        assert_int_equal(iams_sdk_address_text(a, lang, text, sizeof(text)),
                         0);
        assert_string_equal(text, expect);
    }

    json_decref(a);
}


static void
test_addresses(void **state)
{
    json_t             *a;
    iams_sdk_premises   p;

    (void) state;

    lines_are("{\"EngPremisesAddress\": {\"BuildingName\": \"Harbour View "
              "Court\", \"EngBlock\": {\"BlockDescriptor\": \"Block\", "
              "\"BlockNo\": \"2\"}, \"EngStreet\": {\"StreetName\": "
              "\"King's Road\", \"BuildingNoFrom\": \"123\"}, "
              "\"EngDistrict\": {\"DcDistrict\": \"EST\"}, \"Region\": "
              "\"HK\", \"Eng3dAddress\": {\"EngFloor\": {\"Floor\": \"12\"},"
              " \"EngUnit\": {\"UnitDescriptor\": \"Flat\", \"UnitNo\": "
              "\"A\"}}}}", "en",
              "Flat A, 12/F, Block 2, Harbour View Court, 123 King's Road, "
              "Eastern, Hong Kong");

    lines_are("{\"ChiPremisesAddress\": {\"ChiBlock\": {\"BlockDescriptor\":"
              " \"座\", \"BlockNo\": \"B\"}, \"ChiEstate\": {\"EstateName\": "
              "\"順景邨\"}, \"ChiDistrict\": {\"DcDistrict\": \"KT\"}, "
              "\"Region\": \"KLN\", \"Chi3dAddress\": {\"ChiFloor\": "
              "{\"Floor\": \"8\"}, \"ChiUnit\": {\"UnitDescriptor\": \"室\", "
              "\"UnitNo\": \"12\"}}}}", "en",
              "九龍觀塘順景邨B座8樓12室");

    lines_are("{\"PostBoxAddress\": {\"PoBoxNo\": \"6789\", \"PostOffice\": "
              "\"Kwun Tong Post Office\", \"Region\": \"KLN\"}}", "en",
              "P.O. Box 6789, Kwun Tong Post Office, Kowloon");
    lines_are("{\"PostBoxAddress\": {\"PoBoxNo\": \"6789\", \"Region\": "
              "\"KLN\"}}", "zh-HK", "郵政信箱6789號九龍");

    lines_are("{\"FreeFormatAddress\": {\"AddressLine1\": \"Flat C, 3/F\", "
              "\"AddressLine3\": \"Sha Tin\"}}", "zh-HK",
              "Flat C, 3/F, Sha Tin");

    lines_are("{\"EngPremisesAddress\": {\"EngDistrict\": {\"DcDistrict\": "
              "\"XYZ\"}}}", "en", "XYZ");
    lines_are("{\"Elsewhere\": {}}", "en", NULL);
    lines_are("{\"FreeFormatAddress\": {}, \"PostBoxAddress\": {}}", "en",
              NULL);
    lines_are("\"1 Queen's Road\"", "en", NULL);

    memset(&p, 0, sizeof(p));
    assert_null(iams_sdk_address_premises(&p, 0));

    p.unit = "D";
    p.floor = "15";
    p.building = "海濱大廈";
    p.street = "青山公路";
    p.building_no = "88";
    p.district = "TM";
    p.region = "NT";
    a = iams_sdk_address_premises(&p, 1);
    assert_string_equal(json_string_value(iams_sdk_pointer(a,
                            "/ChiPremisesAddress/Chi3dAddress/ChiUnit/"
                            "UnitDescriptor")), "室");
    assert_string_equal(json_string_value(iams_sdk_pointer(a,
                            "/ChiPremisesAddress/ChiStreet/BuildingNoFrom")),
                        "88");
    assert_null(iams_sdk_pointer(a, "/ChiPremisesAddress/ChiBlock"));
    json_decref(a);

    assert_null(iams_sdk_address_free(NULL, "x", NULL));
    assert_string_equal(iams_sdk_district_name("SSP", 1), "深水埗");
    assert_string_equal(iams_sdk_region_name("NT", 0), "New Territories");
}


static void
test_form_building(void **state)
{
    json_t  *f, *in;

    (void) state;

    f = iams_sdk_form_new("x.form");
    assert_int_equal(iams_sdk_form_set(f, "a.b.c", json_string("v"), 1), 0);
    assert_int_equal(iams_sdk_form_set(f, "a.d", json_integer(1), 0), 0);
    assert_int_equal(iams_sdk_form_set(f, "gone", NULL, 0), 0);
    assert_int_equal(iams_sdk_form_set(f, "need", NULL, 1), 0);

    /* a name that is a value and an object at once */
    assert_int_equal(iams_sdk_form_set(f, "a.b.c.d", json_string("w"), 0),
                     -1);

    assert_string_equal(json_string_value(iams_sdk_pointer(f,
                            "/payload/a/b/c")), "v");
    assert_int_equal(json_integer_value(iams_sdk_pointer(f,
                         "/payload/a/d")), 1);
    assert_null(iams_sdk_pointer(f, "/payload/gone"));
    assert_string_equal(json_string_value(iams_sdk_pointer(f,
                            "/missing/0")), "need");
    json_decref(f);

    in = json_pack("{s:{s:{s:s}, s:{s:{s:s, s:s}}}}", "fields",
                   "birthDate", "value", "19800101",
                   "mobileNumber", "value", "CountryCode", "852",
                   "SubscriberNumber", "91234567");
    f = iams_sdk_form_new("x.form");
    assert_int_equal(iams_sdk_form_date(f, "dob", in, "birthDate",
                                        "DD.MM.YYYY", 1), 0);
    assert_int_equal(iams_sdk_form_phone(f, "tel", in,
                                         (const char *const[]) {
                                             "officeTelNumber",
                                             "mobileNumber", NULL }, 1), 0);
    assert_int_equal(iams_sdk_form_copy(f, "mail", in, "emailAddress", 1),
                     0);
    assert_string_equal(json_string_value(iams_sdk_pointer(f,
                            "/payload/dob")), "01.01.1980");
    assert_string_equal(json_string_value(iams_sdk_pointer(f,
                            "/payload/tel")), "91234567");
    assert_string_equal(json_string_value(iams_sdk_pointer(f,
                            "/missing/0")), "mail");
    json_decref(f);
    json_decref(in);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_parse_bounds),
        cmocka_unit_test(test_pointers),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_phones_and_hkids),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_form_building),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
