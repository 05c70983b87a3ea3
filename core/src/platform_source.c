/*
 * The getQR "source": which browser or app the citizen is in, guessed from
 * the User-Agent (protocol section 1.2).  A wrong guess costs little: the
 * platform still shows a QR code or a deep link that works; so the rules
 * stay few and readable rather than chasing every browser.
 */

#include <string.h>

#include "platform_util.h"


static const char *const  iams_source_names[IAMS_SOURCE_COUNT] = {
    [IAMS_SOURCE_PC_BROWSER]        = "PC_Browser",
    [IAMS_SOURCE_ANDROID_CHROME]    = "Android_Chrome",
    [IAMS_SOURCE_ANDROID_FIREFOX]   = "Android_Firefox",
    [IAMS_SOURCE_ANDROID_EDGE]      = "Android_Edge",
    [IAMS_SOURCE_ANDROID_SAMSUNG]   = "Android_Samsung",
    [IAMS_SOURCE_ANDROID_HUAWEI]    = "Android_Huawei",
    [IAMS_SOURCE_ANDROID_XIAOMI]    = "Android_Xiaomi",
    [IAMS_SOURCE_ANDROID_IMS_INAPP] = "Android_IMS_InAppBrowser",
    [IAMS_SOURCE_IOS_SAFARI]        = "iOS_Safari",
    [IAMS_SOURCE_IOS_CHROME]        = "iOS_Chrome",
    [IAMS_SOURCE_IOS_FIREFOX]       = "iOS_Firefox",
    [IAMS_SOURCE_IOS_EDGE]          = "iOS_Edge",
    [IAMS_SOURCE_IOS_IMS_INAPP]     = "iOS_IMS_InAppBrowser",
    [IAMS_SOURCE_APP_LINK]          = "App_Link",
    [IAMS_SOURCE_APP_PACKAGE]       = "App_Package",
    [IAMS_SOURCE_APP_SCHEME]        = "App_Scheme",
};


typedef struct {
    const char   *token;        /* lower case */
    iams_source   source;
} iams_ua_rule;

/* first match wins: vendor browsers also say "Chrome", Edge says both */
static const iams_ua_rule  iams_android_rules[] = {
    { "samsungbrowser", IAMS_SOURCE_ANDROID_SAMSUNG },
    { "huaweibrowser",  IAMS_SOURCE_ANDROID_HUAWEI },
    { "miuibrowser",    IAMS_SOURCE_ANDROID_XIAOMI },
    { "xiaomi/",        IAMS_SOURCE_ANDROID_XIAOMI },
    { "edga/",          IAMS_SOURCE_ANDROID_EDGE },
    { "firefox/",       IAMS_SOURCE_ANDROID_FIREFOX },
    { NULL,             IAMS_SOURCE_ANDROID_CHROME }
};

static const iams_ua_rule  iams_ios_rules[] = {
    { "crios/",  IAMS_SOURCE_IOS_CHROME },
    { "fxios/",  IAMS_SOURCE_IOS_FIREFOX },
    { "edgios/", IAMS_SOURCE_IOS_EDGE },
    { NULL,      IAMS_SOURCE_IOS_SAFARI }
};


const char *
iams_source_name(iams_source src)
{
    if ((unsigned) src >= IAMS_SOURCE_COUNT) {
        src = IAMS_SOURCE_PC_BROWSER;
    }

    return iams_source_names[src];
}


iams_source
iams_source_from_name(const char *name, size_t len)
{
    int  i;

    for (i = 0; i < IAMS_SOURCE_COUNT; i++) {
        if (strlen(iams_source_names[i]) == len
            && memcmp(iams_source_names[i], name, len) == 0)
        {
            return (iams_source) i;
        }
    }

    return IAMS_SOURCE_COUNT;
}


static int
iams_ua_has(const char *lower, size_t len, const char *token)
{
    return memmem(lower, len, token, strlen(token)) != NULL;
}


static iams_source
iams_ua_match(const char *lower, size_t len, const iams_ua_rule *rules)
{
    for ( /* void */ ; rules->token != NULL; rules++) {
        if (iams_ua_has(lower, len, rules->token)) {
            break;
        }
    }

    return rules->source;
}


iams_source
iams_source_from_user_agent(const char *ua, size_t len)
{
    int     inapp;
    char    lower[IAMS_USER_AGENT_MAX];
    size_t  i;

    if (ua == NULL) {
        return IAMS_SOURCE_PC_BROWSER;
    }

    len = len < sizeof(lower) ? len : sizeof(lower);

    for (i = 0; i < len; i++) {
        lower[i] = (ua[i] >= 'A' && ua[i] <= 'Z') ? (char) (ua[i] + 32)
                                                  : ua[i];
    }

    inapp = iams_ua_has(lower, len, "iamsmart");

    if (iams_ua_has(lower, len, "iphone") || iams_ua_has(lower, len, "ipad")
        || iams_ua_has(lower, len, "ipod"))
    {
        return inapp ? IAMS_SOURCE_IOS_IMS_INAPP
                     : iams_ua_match(lower, len, iams_ios_rules);
    }

    if (iams_ua_has(lower, len, "android")) {
        return inapp ? IAMS_SOURCE_ANDROID_IMS_INAPP
                     : iams_ua_match(lower, len, iams_android_rules);
    }

    return IAMS_SOURCE_PC_BROWSER;
}


int
iams_source_broker_page(iams_source src)
{
    switch (src) {
    case IAMS_SOURCE_ANDROID_CHROME:
    case IAMS_SOURCE_ANDROID_FIREFOX:
    case IAMS_SOURCE_ANDROID_EDGE:
    case IAMS_SOURCE_ANDROID_SAMSUNG:
    case IAMS_SOURCE_ANDROID_HUAWEI:
    case IAMS_SOURCE_ANDROID_XIAOMI:
    case IAMS_SOURCE_IOS_SAFARI:
    case IAMS_SOURCE_IOS_CHROME:
    case IAMS_SOURCE_IOS_FIREFOX:
    case IAMS_SOURCE_IOS_EDGE:
        return 1;
    default:
        return 0;
    }
}
