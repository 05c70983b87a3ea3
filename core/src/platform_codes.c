/*
 * Platform return codes: classification, what to do about each, and the
 * sentence a citizen reads on the error page.
 *
 * The messages never blame the citizen for our faults and always say what
 * to do next.  If you add a code, add its row to iams_pcode_table.
 */

#include <string.h>

#include "platform_util.h"


typedef struct {
    const char    *name;
    iams_paction   action;
    const char    *message[IAMS_LANG_COUNT];
} iams_pcode_info;


#define IAMS_MSG_UNAVAILABLE                                                  \
    { "iAM Smart is not available at the moment. Please try again later.",  \
      "「智方便」暫時未能提供服務，請稍後再試。" }

#define IAMS_MSG_RELOGIN                                                      \
    { "Your iAM Smart login has expired. Please log in again.",             \
      "你的「智方便」登入已逾時，請重新登入。" }


static const iams_pcode_info  iams_pcode_table[IAMS_PCODE_COUNT] = {

    [IAMS_PCODE_OK] = { "ok", IAMS_PACTION_NONE,
        { "Done.", "已完成。" } },

    [IAMS_PCODE_BAD_PARAMETER] = { "bad_parameter", IAMS_PACTION_FAIL,
        IAMS_MSG_UNAVAILABLE },

    [IAMS_PCODE_DUPLICATE_REQUEST] = { "duplicate_request",
        IAMS_PACTION_RETRY_LATER, IAMS_MSG_UNAVAILABLE },

    [IAMS_PCODE_SIGNATURE] = { "signature_rejected", IAMS_PACTION_FAIL,
        IAMS_MSG_UNAVAILABLE },

    [IAMS_PCODE_REDIRECT_UNREGISTERED] = { "redirect_unregistered",
        IAMS_PACTION_FAIL, IAMS_MSG_UNAVAILABLE },

    [IAMS_PCODE_TOKEN_EXPIRED] = { "token_expired", IAMS_PACTION_RELOGIN,
        IAMS_MSG_RELOGIN },

    [IAMS_PCODE_DUPLICATE_BUSINESS_ID] = { "duplicate_business_id",
        IAMS_PACTION_RETRY_LATER,
        { "This request was already made. Please start again.",
          "此要求已經提交，請重新開始。" } },

    [IAMS_PCODE_INSUFFICIENT_SCOPE] = { "insufficient_scope",
        IAMS_PACTION_USER,
        { "This service needs a permission you have not given in iAM Smart."
          " Please log in again and authorise it.",
          "此服務需要你在「智方便」授權的權限尚未授予，請重新登入並授權。" } },

    [IAMS_PCODE_GENERAL] = { "general_error", IAMS_PACTION_FAIL,
        IAMS_MSG_UNAVAILABLE },

    [IAMS_PCODE_KEY] = { "key_expired", IAMS_PACTION_REFRESH_CEK,
        IAMS_MSG_UNAVAILABLE },

    [IAMS_PCODE_ENCRYPTION] = { "encryption_error", IAMS_PACTION_FAIL,
        IAMS_MSG_UNAVAILABLE },

    [IAMS_PCODE_USER_CANCELLED] = { "user_cancelled", IAMS_PACTION_USER,
        { "You cancelled the request in the iAM Smart app. You can try "
          "again at any time.",
          "你已在「智方便」流動應用程式取消此要求，你可隨時再試。" } },

    [IAMS_PCODE_USER_REJECTED] = { "user_rejected", IAMS_PACTION_USER,
        { "You declined the request in the iAM Smart app. You can try again "
          "at any time.",
          "你已在「智方便」流動應用程式拒絕此要求，你可隨時再試。" } },

    [IAMS_PCODE_AUTH_TIMEOUT] = { "auth_timeout", IAMS_PACTION_USER,
        { "The request timed out before it was confirmed in the iAM Smart "
          "app. Please try again.",
          "此要求未在「智方便」流動應用程式確認前已逾時，請再試一次。" } },

    [IAMS_PCODE_AUTH_CODE_EXPIRED] = { "auth_code_expired",
        IAMS_PACTION_RELOGIN,
        { "Your login took too long to complete. Please log in again.",
          "登入程序逾時，請重新登入。" } },

    [IAMS_PCODE_AUTH] = { "auth_failed", IAMS_PACTION_USER,
        { "Your iAM Smart login could not be completed. Please log in "
          "again.",
          "未能完成「智方便」登入，請重新登入。" } },

    [IAMS_PCODE_PROFILE] = { "profile_error", IAMS_PACTION_FAIL,
        { "Your personal information could not be obtained from iAM Smart. "
          "Please try again later.",
          "未能從「智方便」取得你的個人資料，請稍後再試。" } },

    [IAMS_PCODE_EME] = { "eme_error", IAMS_PACTION_FAIL,
        { "Your e-ME information could not be obtained from iAM Smart. "
          "Please try again later.",
          "未能從「智方便」取得你的「個人資料夾」資料，請稍後再試。" } },

    [IAMS_PCODE_SIGNING_HKID_MISMATCH] = { "signing_hkid_mismatch",
        IAMS_PACTION_USER,
        { "The document can only be signed by the person it was prepared "
          "for.",
          "此文件只可由指定人士簽署。" } },

    [IAMS_PCODE_SIGNING] = { "signing_error", IAMS_PACTION_FAIL,
        { "The digital signing could not be completed. Please try again "
          "later.",
          "未能完成數碼簽署，請稍後再試。" } },

    [IAMS_PCODE_STEPUP] = { "stepup_failed", IAMS_PACTION_USER,
        { "Your identity could not be verified again. Please try again.",
          "未能再次核實你的身份，請再試一次。" } },

    [IAMS_PCODE_RATE_LIMITED] = { "rate_limited", IAMS_PACTION_RETRY_LATER,
        { "iAM Smart is busy. Please try again in a few minutes.",
          "「智方便」現正繁忙，請於數分鐘後再試。" } },

    [IAMS_PCODE_UNKNOWN] = { "unknown_error", IAMS_PACTION_FAIL,
        IAMS_MSG_UNAVAILABLE },
};


iams_pcode
iams_pcode_classify(const char *code, size_t len)
{
    size_t  i;
    long    n;

    if (!iams_pf_code_shape(code, len)) {
        return IAMS_PCODE_UNKNOWN;
    }

    n = 0;

    for (i = 1; i < IAMS_CODE_LEN; i++) {
        n = n * 10 + (code[i] - '0');
    }

    switch (n) {
    case 0:
        return IAMS_PCODE_OK;
    case 20001:
    case 20002:
    case 20003:
        return IAMS_PCODE_BAD_PARAMETER;
    case 20004:
        return IAMS_PCODE_DUPLICATE_REQUEST;
    case 20005:
    case 20006:
        return IAMS_PCODE_SIGNATURE;
    case 20008:
        return IAMS_PCODE_REDIRECT_UNREGISTERED;
    case 20009:
        return IAMS_PCODE_TOKEN_EXPIRED;
    case 20011:
        return IAMS_PCODE_DUPLICATE_BUSINESS_ID;
    case 20012:
        return IAMS_PCODE_INSUFFICIENT_SCOPE;
    case 30001:
    case 30002:
    case 30003:
    case 30004:
        return IAMS_PCODE_KEY;
    case 40000:
        return IAMS_PCODE_USER_CANCELLED;
    case 40001:
        return IAMS_PCODE_USER_REJECTED;
    case 40003:
        return IAMS_PCODE_AUTH_TIMEOUT;
    case 40004:
        return IAMS_PCODE_AUTH_CODE_EXPIRED;
    case 70005:
        return IAMS_PCODE_SIGNING_HKID_MISMATCH;
    default:
        break;
    }

    switch (n / 10000) {
    case 2:
        return IAMS_PCODE_GENERAL;
    case 3:
        return IAMS_PCODE_ENCRYPTION;
    case 4:
        return IAMS_PCODE_AUTH;
    case 5:
        return IAMS_PCODE_PROFILE;
    case 6:
        return IAMS_PCODE_EME;
    case 7:
        return IAMS_PCODE_SIGNING;
    case 8:
        return IAMS_PCODE_STEPUP;
    default:
        return IAMS_PCODE_UNKNOWN;
    }
}


static const iams_pcode_info *
iams_pcode_info_get(iams_pcode pc)
{
    if ((unsigned) pc >= IAMS_PCODE_COUNT) {
        pc = IAMS_PCODE_UNKNOWN;
    }

    return &iams_pcode_table[pc];
}


iams_paction
iams_pcode_action(iams_pcode pc)
{
    return iams_pcode_info_get(pc)->action;
}


const char *
iams_pcode_name(iams_pcode pc)
{
    return iams_pcode_info_get(pc)->name;
}


const char *
iams_pcode_message(iams_pcode pc, iams_lang lang)
{
    if ((unsigned) lang >= IAMS_LANG_COUNT) {
        lang = IAMS_LANG_EN;
    }

    return iams_pcode_info_get(pc)->message[lang];
}


iams_lang
iams_lang_from_tag(const char *tag, size_t len)
{
    if (len >= 2 && (tag[0] == 'z' || tag[0] == 'Z')
        && (tag[1] == 'h' || tag[1] == 'H'))
    {
        return IAMS_LANG_ZH_HK;
    }

    return IAMS_LANG_EN;
}


const char *
iams_lang_platform_name(iams_lang lang)
{
    return lang == IAMS_LANG_ZH_HK ? "zh-HK" : "en-US";
}
