"""
Anonymous e-ME form filling ("iamsmart_prefill anonymous"), end to end: a
citizen who has not signed in opens a department form; the gateway asks
the platform (the sandbox) for an anonymous e-ME request, sends the
browser to getQR with the ticket, the platform sends it back to the login
callback, which hands the code to the form's location without creating a
session, and the form is filled from getToken + getResult.

Expected values come from the sandbox's own personas.json.
"""

import urllib.parse

import harness
from exchange_support import (  # noqa: F401  (fixtures)
    PERSONAS, exchange_keys, shared_exchange, xstack)
from login_support import CALLBACK, COOKIE, DEFAULT_PERSONA, Browser
from test_prefill import FORM, check_payload, expected_payload

ANON = "/forms/anonymous"
LOGIN_COOKIE = COOKIE + "_login"
OTHER = "wong-mei-ling"


def anon_url(stack, form=FORM):
    return stack.url(ANON + "?" + urllib.parse.urlencode({"form": form}))


def fill(stack, browser, form=FORM):
    """The whole round trip; checks each hop and returns the final Page."""
    page = browser.navigate(anon_url(stack, form))
    hops = [(urllib.parse.urlsplit(u), r) for u, r in page.chain]
    assert len(hops) == 3, page.chain
    assert hops[0][0].path == ANON and hops[0][1].status == 302
    getqr = hops[1][0]
    assert getqr.port == stack.sandbox.port
    assert getqr.path == "/api/v1/auth/getQR", getqr
    q = urllib.parse.parse_qs(getqr.query)
    assert q["scope"] == ["eidapi_formFilling"], q
    assert q["ticketID"][0], q
    assert hops[2][0].path == CALLBACK, hops[2][0]
    last = urllib.parse.urlsplit(page.url)
    back = urllib.parse.parse_qs(last.query)
    assert last.path == ANON and back["form"] == [form], page.url
    assert back["anon"][0], page.url
    return page


def gateway_keys(stack, kind):
    with harness.RedisClient(stack.redis_port) as c:
        return c.command("KEYS", "iamsmart:%s:*" % kind) or []


def test_a_form_is_filled_from_eme_without_a_login(xstack):
    before = set(gateway_keys(xstack, "session"))
    b = Browser("anonymous")
    page = fill(xstack, b)
    assert page.response.status == 200, page.response.text
    assert page.response.header("Cache-Control") == "no-store"
    form = page.response.json()

    # the profile and e-ME fields come from the persona who approved;
    # TD's own data sets need a consent, which needs a citizen: missing
    check_payload(form, DEFAULT_PERSONA, licence=False)
    assert "drivingLicenceNo" not in form["payload"]
    assert form.get("missing"), form
    assert form["sources"], form
    for name, src in form["sources"].items():
        assert src["source"] == "iAM Smart", (name, src)

    # nobody was signed in, and nobody is now
    assert b.cookie(COOKIE) is None
    assert set(gateway_keys(xstack, "session")) == before
    r = b.request("GET", xstack.url("/my/data"),
                  headers={"Accept": "application/json"})
    assert r.status == 401, r

    # the platform saw an anonymous request for the form's e-ME fields
    log = xstack.sandbox.log("/api/v1/anonymous/eme/initiateRequest")
    assert log, "no anonymous initiateRequest reached the platform"
    assert xstack.sandbox.log("/api/v1/anonymous/eme/getResult")


def test_another_persona_fills_in_their_own_data(xstack):
    xstack.sandbox.admin("auto-approve", persona=OTHER)
    page = fill(xstack, Browser("other"))
    assert page.response.status == 200, page.response.text
    payload = page.response.json()["payload"]
    for name, value in expected_payload(OTHER, licence=False).items():
        assert payload.get(name) == value, (name, payload.get(name))


def test_the_hand_off_is_single_use_and_bound_to_the_browser(xstack):
    b = Browser("first")
    page = fill(xstack, b)
    assert page.response.status == 200
    done = page.url

    # once redeemed, gone
    r = b.request("GET", done)
    assert r.status == 404 and r.json()["error"] == "no_data", r.text

    # a hand-off stolen before use: without the binding cookie the other
    # browser is told so; with its own cookie it addresses another key and
    # consumes nothing
    b2 = Browser("victim")
    redirect = b2.navigate(anon_url(xstack),
                           stop=lambda u: urllib.parse.urlsplit(u).path
                           == ANON and "anon=" in u)
    assert redirect.response.status == 302, redirect
    stolen = urllib.parse.urljoin(redirect.url,
                                  redirect.response.header("Location"))

    thief = Browser("thief")
    r = thief.request("GET", stolen)
    assert r.status == 400 and r.json()["error"] == "another_browser", r.text
    thief.set_cookie(LOGIN_COOKIE, b.cookie(LOGIN_COOKIE))
    r = thief.request("GET", stolen)
    assert r.status == 404, r.text

    r = b2.request("GET", stolen)
    assert r.status == 200, r.text
    check_payload(r.json(), DEFAULT_PERSONA, licence=False)


def test_a_hand_off_for_another_form_is_refused(xstack):
    b = Browser("forms")
    redirect = b.navigate(anon_url(xstack),
                          stop=lambda u: "anon=" in u)
    stolen = urllib.parse.urljoin(redirect.url,
                                  redirect.response.header("Location"))
    handle = urllib.parse.parse_qs(
        urllib.parse.urlsplit(stolen).query)["anon"][0]
    other = xstack.url(ANON + "?" + urllib.parse.urlencode(
        {"form": "reo.voter_registration", "anon": handle}))
    r = b.request("GET", other)
    assert r.status == 400 and r.json()["error"] == "another_form", r.text
    # and it was used up by the attempt: no second try on the right form
    r = b.request("GET", stolen)
    assert r.status == 404, r.text


def test_a_declined_request_gets_the_friendly_page_and_no_data(xstack):
    xstack.sandbox.admin("behaviour", persona=DEFAULT_PERSONA,
                         login="reject")
    b = Browser("declines")
    page = b.navigate(anon_url(xstack))
    assert urllib.parse.urlsplit(page.url).path == CALLBACK, page.url
    assert page.response.status == 200
    text = page.response.text
    assert "智方便" in text and "iAM Smart" in text, text[:400]
    # the retry link leads back to the form, not to a login
    assert ANON in text
    assert b.cookie(COOKIE) is None


def test_bad_inputs_get_clear_errors(xstack):
    b = Browser("bad")
    r = b.request("GET", xstack.url(ANON + "?form=" + FORM + "&anon=a%20b"))
    assert r.status == 400 and r.json()["error"] == "invalid_request"
    r = b.request("GET", xstack.url(ANON + "?form=no.such_form"))
    assert r.status == 404 and r.json()["error"] == "unknown_form"
    r = b.request("GET", xstack.url(ANON))
    assert r.status == 400 and r.json()["error"] == "invalid_request"
    r = b.request("POST", anon_url(xstack), body=b"x")
    assert r.status == 405
    # an unknown handle with a binding cookie: nothing to redeem
    b.set_cookie(LOGIN_COOKIE, "A" * 43)
    r = b.request("GET", xstack.url(ANON + "?form=" + FORM + "&anon=nope"))
    assert r.status == 404 and r.json()["error"] == "no_data"


def test_the_platform_failing_is_reported_not_hidden(xstack):
    xstack.sandbox.admin("fail", endpoint="/api/v1/anonymous/eme/"
                         "initiateRequest", status=500)
    r = Browser("fails").request("GET", anon_url(xstack))
    assert r.status == 502, r.text
    assert r.json()["error"] == "platform_unavailable", r.text


def test_nginx_t_rejects_a_bad_parameter(nginx):
    conf = """
    server {
        listen 127.0.0.1:{{port}};
        location = /f { iamsmart_prefill everyone; }
    }
    """
    res = nginx.check_config(conf)
    assert not res.ok, res.output
    emerg = [line for line in res.output.splitlines() if "[emerg]" in line]
    assert any('invalid parameter "everyone"' in line for line in emerg), \
        res.output
